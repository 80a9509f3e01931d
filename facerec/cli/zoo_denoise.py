"""``facerec zoo denoise``, ``denoise-bench`` and ``denoise-verify``: DnCNN trained, measured and put to use."""

from __future__ import annotations

import click

from facerec.cli.common import emit

__all__ = ["COMMANDS"]


def _sigma_range(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    try:
        low, high = (float(v) for v in text.split("-"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a range like 5-55", param_hint="--sigma-range") from None
    if not 0 <= low < high:
        raise click.BadParameter(f"{text!r}: need 0 <= low < high", param_hint="--sigma-range")
    return low, high


def _sigmas(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) <= 0:
        raise click.BadParameter(f"{text!r} is not a list of positive noise levels like 15,25,50",
                                 param_hint="--sigmas")
    return values


@click.command("denoise")
@click.option("--data", default="lfw", show_default=True, help="lfw, or a folder of photos (a sub-folder per person).")
@click.option("--depth", type=int, default=17, show_default=True, help="Convolutions D (17; 20 for the blind DnCNN-B).")
@click.option("--width", type=float, default=1.0, show_default=True, help="Filters as a share of 64.")
@click.option("--loss", type=click.Choice(["mse", "mae"]), default="mse", show_default=True, help="Loss on the noise.")
@click.option("--sigma", type=float, default=25.0, show_default=True, help="Noise level (0-255 scale).")
@click.option("--sigma-range", default=None, help="Blind training: a range like 5-55 (overrides --sigma).")
@click.option("--patch", type=int, default=40, show_default=True, help="Patch side in pixels.")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Patches per step.")
@click.option("--steps", type=int, default=2000, show_default=True, help="Optimizer steps.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate (cosine schedule).")
@click.option("--train-photos", type=int, default=800, show_default=True, help="Training photos to crop from.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the people split, init and patches.")
@click.option("--init", default=None, type=click.Path(dir_okay=False),
              help="Start from this dncnn.pt (same depth and width), e.g. a blind model tuned to one sigma.")
@click.option("--log-every", type=int, default=100, show_default=True, help="Steps per averaged loss entry.")
@click.option("--threads", type=int, default=None, help="CPU threads for torch.")
@click.option("--out", "out_dir", default="runs/dncnn", show_default=True, help="Output folder.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def denoise_command(data: str, depth: int, width: float, loss: str, sigma: float, sigma_range: str | None,
                    patch: int, batch_size: int, steps: int, lr: float, train_photos: int, seed: int,
                    init: str | None, log_every: int, threads: int | None, out_dir: str, quiet: bool,
                    as_json: bool) -> None:
    """Train DnCNN on noisy patches of grayscale photos; test people are never seen."""
    import torch

    from facerec.zoo.denoise import DenoiseConfig, train_denoiser

    if threads:
        torch.set_num_threads(threads)
    config = DenoiseConfig(data=data, depth=depth, width=width, loss=loss, sigma=sigma,
                           sigma_range=_sigma_range(sigma_range), patch=patch, batch_size=batch_size, steps=steps,
                           lr=lr, train_photos=train_photos, seed=seed, out_dir=out_dir, log_every=log_every,
                           init=init, progress=not quiet and not as_json)
    result = train_denoiser(config)
    if as_json:
        emit(result.to_dict())
        return
    click.echo(f"loss {result.losses[0]:.5f} -> {result.losses[-1]:.5f}; held-out PSNR {result.val_psnr_noisy:.2f} "
               f"-> {result.val_psnr_denoised:.2f} dB; {result.seconds:.0f}s; saved {result.checkpoint}")


@click.command("denoise-bench")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False), help="A dncnn.pt from `zoo denoise`.")
@click.option("--sigmas", default="15,25,50", show_default=True, help="Noise levels to measure.")
@click.option("--photos", type=int, default=12, show_default=True, help="Held-out photos (test people).")
@click.option("--crop", type=int, default=128, show_default=True, help="Centre crop side (0: whole photo).")
@click.option("--methods", default="gaussian,nlm,bm3d,dncnn", show_default=True,
              help="Comma-separated: gaussian, nlm, bm3d, dncnn (bm3d needs the bm3d package).")
@click.option("--threads", type=int, default=None, help="CPU threads for torch.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def denoise_bench_command(checkpoint: str, sigmas: str, photos: int, crop: int, methods: str, threads: int | None,
                          as_json: bool) -> None:
    """PSNR and SSIM of DnCNN beside a Gaussian filter, non-local means and BM3D on held-out photos."""
    import torch

    from facerec.zoo.denoise_bench import bench_denoisers

    if threads:
        torch.set_num_threads(threads)
    report = bench_denoisers(checkpoint, sigmas=_sigmas(sigmas), photos=photos, crop=crop,
                             methods=tuple(m.strip() for m in methods.split(",") if m.strip()))
    if as_json:
        emit(report)
        return
    click.echo(report["table"])


@click.command("denoise-verify")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False), help="A dncnn.pt from `zoo denoise`.")
@click.option("--sigmas", default="25,50", show_default=True, help="Noise levels added to every photo.")
@click.option("--pairs-per-fold", type=int, default=60, show_default=True,
              help="Matched and as many mismatched pairs taken from each fold of pairs_dev.txt.")
@click.option("--where", type=click.Choice(["crop", "image"]), default="crop", show_default=True,
              help="Denoise the aligned face crop (cheap) or the whole photo before detection.")
@click.option("--threads", type=int, default=None, help="CPU threads.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def denoise_verify_command(checkpoint: str, sigmas: str, pairs_per_fold: int, where: str, threads: int | None,
                           as_json: bool) -> None:
    """LFW dev verification on noisy photos, with and without DnCNN in front of the pipeline."""
    from facerec.zoo.denoise_verify import noisy_verification

    report = noisy_verification(checkpoint, sigmas=_sigmas(sigmas), pairs_per_fold=pairs_per_fold, where=where,
                                threads=threads)
    if as_json:
        emit(report)
        return
    click.echo(report["table"])


COMMANDS = (denoise_command, denoise_bench_command, denoise_verify_command)
