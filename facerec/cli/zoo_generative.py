"""``facerec zoo style`` and ``facerec zoo gan``: the zoo's generative wing (registered into ``zoo``)."""

from __future__ import annotations

from pathlib import Path

import click

from facerec.cli.common import CONTEXT, FaceRecGroup, emit

__all__ = ["gan_group", "style_command"]


@click.command("style", context_settings=CONTEXT)
@click.argument("content")
@click.argument("style")
@click.option("-o", "--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Where to write the generated picture (PNG).")
@click.option("--net", default="vgg19", show_default=True,
              help="Feature network: vgg19 (ImageNet weights, downloaded once), vgg16-random, mobilefacenet "
                   "(the face embedder), or a zoo checkpoint .pt.")
@click.option("--weights", default=None, type=click.Path(exists=True, dir_okay=False),
              help="A VGG-19 weights file of your own (torchvision's layout) for --net vgg19.")
@click.option("--content-weight", type=float, default=1.0, show_default=True, help="alpha, the content cost's weight.")
@click.option("--style-weight", type=float, default=1e4, show_default=True, help="beta, the style cost's weight.")
@click.option("--content-layer", default=None, help="Layer of the content cost (default: the network's, conv4_2 "
                                                    "for VGG).")
@click.option("--layers", default=None, help="Comma-separated style layers, equally weighted (default: the "
                                             "network's, conv1_1..conv5_1 for VGG).")
@click.option("--steps", type=int, default=300, show_default=True, help="Optimiser steps.")
@click.option("--optimizer", type=click.Choice(["lbfgs", "adam"]), default="lbfgs", show_default=True,
              help="L-BFGS (as in Gatys et al.) or Adam.")
@click.option("--lr", type=float, default=None, help="Learning rate (default: 1 for L-BFGS, 0.02 for Adam).")
@click.option("--size", type=int, default=256, show_default=True, help="Longer side of the pictures, in pixels.")
@click.option("--init", type=click.Choice(["content+noise", "content", "noise"]), default="content+noise",
              show_default=True, help="Starting image: the content with uniform noise (+-0.25), the content, "
                                      "or noise.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise (and of random weights).")
@click.option("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice).")
@click.option("--curve", type=click.Path(dir_okay=False), default=None, help="Also plot the costs to this PNG.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the costs per step as JSON.")
def style_command(content: str, style: str, out_path: str, net: str, weights: str | None, content_weight: float,
                  style_weight: float, content_layer: str | None, layers: str | None, steps: int, optimizer: str,
                  lr: float | None, size: int, init: str, seed: int, threads: int | None, curve: str | None,
                  quiet: bool, as_json: bool) -> None:
    """Paint CONTENT in the style of STYLE (files, or skimage:NAME such as skimage:chelsea)."""
    import torch

    from facerec.zoo.plots import plot_style_costs
    from facerec.zoo.style_transfer import StyleConfig, load_image, save_image, stylize

    if threads:
        torch.set_num_threads(threads)
    style_layers = tuple(x.strip() for x in layers.split(",") if x.strip()) if layers else None
    config = StyleConfig(net=net, weights=weights, content_layer=content_layer, style_layers=style_layers,
                         content_weight=content_weight, style_weight=style_weight, steps=steps,
                         optimizer=optimizer, lr=lr, size=size, init=init, seed=seed,
                         progress=not quiet and not as_json)
    result = stylize(load_image(content, size), load_image(style, size), config)
    save_image(result.image, out_path)
    if curve:
        plot_style_costs(result, curve, f"{Path(content).name} in the style of {Path(style).name} ({result.net})")
    summary = {"out": out_path, "net": result.net, "net_description": result.net_description,
               "content_layer": result.content_layer, "style_layers": list(result.style_layers),
               "seconds": round(result.seconds, 1),
               "history": [[s.step, s.total, s.content, s.style] for s in result.history]}
    if as_json:
        emit(summary)
        return
    first, last = result.history[0], result.history[-1]
    click.echo(f"J {first.total:.4g} -> {last.total:.4g} (content {last.content:.4g}, style {last.style:.4g}) "
               f"after {last.step} steps with {result.net}; {result.seconds:.0f}s; wrote {out_path}")


@click.group("gan", cls=FaceRecGroup, context_settings=CONTEXT)
def gan_group() -> None:
    """Train a DCGAN (Radford, Metz and Chintala 2016) on MNIST or faces, then sample from it."""


@gan_group.command("train")
@click.option("--data", required=True, help="mnist, att, or a folder of images (sub-folders are read too).")
@click.option("--size", type=int, default=None, help="Image side, 32 or 64 (default: 32 for mnist, else 64).")
@click.option("--epochs", type=int, default=5, show_default=True, help="Passes over the training images.")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Images per step.")
@click.option("--limit", type=int, default=None, help="Train on this many images only (a seeded subset).")
@click.option("--latent", type=int, default=100, show_default=True, help="Size of the noise vector z.")
@click.option("--width", type=int, default=64, show_default=True, help="Channels of the first D / last G layer.")
@click.option("--lr", type=float, default=2e-4, show_default=True, help="Adam learning rate (both networks).")
@click.option("--augment-flip", is_flag=True, help="Mirror training images at random (faces).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of subset, init, noise and batches.")
@click.option("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice).")
@click.option("--out", "out_dir", default=None, help="Output folder (default: runs/gan-DATA).")
@click.option("--quiet", is_flag=True, help="No progress bar or per-epoch lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def gan_train_command(data: str, size: int | None, epochs: int, batch_size: int, limit: int | None, latent: int,
                      width: int, lr: float, augment_flip: bool, seed: int, threads: int | None,
                      out_dir: str | None, quiet: bool, as_json: bool) -> None:
    """Train a DCGAN; saves samples_epochNNN.png, last.pt and losses.json in the output folder."""
    import torch

    from facerec.zoo.gan_train import GanConfig, train_gan

    if threads:
        torch.set_num_threads(threads)
    config = GanConfig(data=data, size=size or (32 if data == "mnist" else 64), epochs=epochs,
                       batch_size=batch_size, limit=limit, latent=latent, width=width, lr=lr, flip=augment_flip,
                       seed=seed, out_dir=out_dir or f"runs/gan-{data.rstrip('/').split('/')[-1]}",
                       progress=not quiet and not as_json)
    result = train_gan(config)
    if as_json:
        emit(result.to_dict())
        return
    last = result.history[-1]
    click.echo(f"{len(result.history)} epochs on {result.images} images; last epoch: D loss {last.d_loss:.3f}, "
               f"G loss {last.g_loss:.3f}; {result.seconds:.0f}s; saved in {result.out_dir}")


@gan_group.command("sample")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Where to write the grid of samples (PNG).")
@click.option("-n", "--count", type=int, default=64, show_default=True, help="Number of samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise vectors.")
@click.option("--nrow", type=int, default=8, show_default=True, help="Samples per row of the grid.")
@click.option("--scale", type=int, default=2, show_default=True, help="Enlarge the grid this many times.")
def gan_sample_command(checkpoint: str, out_path: str, count: int, seed: int, nrow: int, scale: int) -> None:
    """Draw COUNT samples from a trained generator CHECKPOINT and save them as a grid."""
    from facerec.zoo.dcgan import load_gan, sample, save_grid

    if count < 1 or nrow < 1 or scale < 1:
        raise click.BadParameter("count, nrow and scale must be at least 1")
    generator, _ = load_gan(checkpoint)
    images = sample(generator, count, seed=seed)
    save_grid(images, out_path, nrow=nrow, scale=scale)
    click.echo(f"wrote {count} samples to {out_path}")
