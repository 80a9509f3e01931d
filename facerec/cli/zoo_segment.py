"""``facerec zoo segment``: train U-Net (and its no-skip twin) on per-pixel labels, report mean IoU."""

from __future__ import annotations

from pathlib import Path

import click

from facerec.cli.common import emit

__all__ = ["COMMANDS"]


@click.command("segment")
@click.option("--arch", type=click.Choice(["unet", "unet-noskip"]), default="unet", show_default=True,
              help="The network (ignored with --compare, which trains both).")
@click.option("--compare", is_flag=True, help="Train unet and unet-noskip with identical settings and data.")
@click.option("--data", default="m2nist", show_default=True,
              help="m2nist (MNIST digits on textured canvases), or a folder with images/ and masks/.")
@click.option("--depth", type=int, default=3, show_default=True, help="Pooling levels.")
@click.option("--width", type=float, default=0.25, show_default=True, help="First-level filters as a share of 64.")
@click.option("--loss", type=click.Choice(["ce", "dice"]), default="ce", show_default=True,
              help="Per-pixel cross-entropy, or cross-entropy plus soft Dice.")
@click.option("--train-size", type=int, default=2000, show_default=True, help="Training canvases (m2nist).")
@click.option("--test-size", type=int, default=500, show_default=True, help="Test canvases (m2nist, unseen digits).")
@click.option("--epochs", type=int, default=5, show_default=True, help="Passes over the training canvases.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Canvases per step.")
@click.option("--lr", type=float, default=2e-3, show_default=True, help="Peak Adam learning rate (one-cycle).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of canvases, init and batches.")
@click.option("--threads", type=int, default=None, help="CPU threads for torch.")
@click.option("--out", "out_dir", default="runs/unet", show_default=True, help="Output folder.")
@click.option("--figure", default=None, help="Save a PNG of inputs, truth and predictions here.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def segment_command(arch: str, compare: bool, data: str, depth: int, width: float, loss: str, train_size: int,
                    test_size: int, epochs: int, batch_size: int, lr: float, seed: int, threads: int | None,
                    out_dir: str, figure: str | None, quiet: bool, as_json: bool) -> None:
    """Train a U-Net for per-pixel labels and report mean IoU on held-out images."""
    import torch

    from facerec.zoo.segment import SegmentConfig, train_segmenter

    if threads:
        torch.set_num_threads(threads)
    results = []
    for name in (["unet", "unet-noskip"] if compare else [arch]):
        config = SegmentConfig(arch=name, data=data, depth=depth, width=width, loss=loss, train_size=train_size,
                               test_size=test_size, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                               out_dir=out_dir, progress=not quiet and not as_json)
        results.append(train_segmenter(config))
    if figure:
        from facerec.zoo.segment_figure import save_segmentation_figure

        save_segmentation_figure([r.checkpoint for r in results], Path(figure), data=data, seed=seed)
    if as_json:
        emit({"results": [r.to_dict() for r in results]})
        return
    click.echo("| network | params | mean IoU | digit IoU | pixel accuracy | train loss (first → last) | seconds |")
    click.echo("|---|---|---|---|---|---|---|")
    for r in results:
        digits = "-" if r.digit_iou is None else f"{r.digit_iou:.4f}"
        click.echo(f"| {r.config.arch} | {r.params:,} | {r.mean_iou:.4f} | {digits} | {r.pixel_accuracy:.4f} "
                   f"| {r.losses[0]:.3f} → {r.losses[-1]:.3f} | {r.seconds:.0f} |")


COMMANDS = (segment_command,)
