"""``facerec zoo detect``: train the YOLO-style face detector on teacher-labelled mosaics and compare it."""

from __future__ import annotations

import click

from facerec.cli.common import emit

__all__ = ["COMMANDS"]


@click.command("detect")
@click.option("--train-size", type=int, default=1200, show_default=True, help="Training mosaics (training people).")
@click.option("--test-size", type=int, default=200, show_default=True, help="Test mosaics (test people).")
@click.option("--size", type=int, default=192, show_default=True, help="Mosaic side in pixels (a multiple of 16).")
@click.option("--anchors", type=int, default=3, show_default=True, help="Anchor boxes per cell (k-means).")
@click.option("--width", type=float, default=1.0, show_default=True, help="Filters as a share of 16-32-64-128.")
@click.option("--epochs", type=int, default=6, show_default=True, help="Passes over the training mosaics.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Mosaics per step.")
@click.option("--lr", type=float, default=2e-3, show_default=True, help="Peak Adam learning rate (one-cycle).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the people split, mosaics and init.")
@click.option("--compare", default="mtcnn,yunet,retinaface", show_default=True,
              help="Registered detectors measured on the same test mosaics ('' for none).")
@click.option("--threads", type=int, default=None, help="CPU threads for torch.")
@click.option("--out", "out_dir", default="runs/yolo", show_default=True, help="Output folder (mosaics are cached).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def detect_command(train_size: int, test_size: int, size: int, anchors: int, width: float, epochs: int,
                   batch_size: int, lr: float, seed: int, compare: str, threads: int | None, out_dir: str,
                   quiet: bool, as_json: bool) -> None:
    """Train the grid face detector on mosaics labelled by the default detector; AP@0.5 beside others."""
    import os

    import torch

    from facerec.models.detectors import DEFAULT_DETECTOR
    from facerec.zoo.detect_train import DetectConfig, compare_detectors, train_detector
    from facerec.zoo.mosaics import make_mosaics

    if size % 16:
        raise click.BadParameter(f"{size} is not a multiple of 16", param_hint="--size")
    if threads:
        torch.set_num_threads(threads)
    config = DetectConfig(train_size=train_size, test_size=test_size, size=size, anchors=anchors, width=width,
                          epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, out_dir=out_dir,
                          progress=not quiet and not as_json)
    result = train_detector(config)
    os.environ["FACEREC_YOLO_WEIGHTS"] = result.checkpoint
    test = make_mosaics("test", test_size, size=size, seed=seed, cache_dir=out_dir)
    names = ["yolo-face"] + [n.strip() for n in compare.split(",") if n.strip()] + [DEFAULT_DETECTOR]
    rows = compare_detectors(list(dict.fromkeys(names)), test)
    if as_json:
        emit({"result": result.to_dict(), "comparison": rows})
        return
    faces = sum(len(b) for b in test.boxes)
    click.echo(f"anchors (w x h): {', '.join(f'{w:.0f}x{h:.0f}' for w, h in result.anchors)}; "
               f"loss {result.losses[0]:.2f} -> {result.losses[-1]:.2f}; {result.seconds:.0f}s; {result.checkpoint}")
    click.echo(f"{len(test.images)} test mosaics, {faces} teacher faces ({DEFAULT_DETECTOR}); yolo-face AP@0.5 over "
               f"all scores >= 0.05: {result.ap50:.4f}; operating threshold (best F1 on training mosaics) "
               f"{result.min_score:.3f}")
    click.echo("| detector | AP@0.5 vs teacher | landmark error (/ box width) | photos/s |")
    click.echo("|---|---|---|---|")
    for row in rows:
        click.echo(f"| {row['detector']} | {row['ap50']:.4f} | {row['landmark_error']:.4f} "
                   f"| {row['photos_per_second']:.1f} |")


COMMANDS = (detect_command,)
