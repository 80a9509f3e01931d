"""``facerec zoo``: inspect and train the classic CNNs (LeNet-5 to MobileNet)."""

from __future__ import annotations

import click

from facerec.cli import zoo_denoise, zoo_detect, zoo_segment
from facerec.cli.common import CONTEXT, FaceRecGroup, emit
from facerec.cli.zoo_generative import gan_group, style_command

__all__ = ["COMMAND"]


@click.group("zoo", cls=FaceRecGroup, context_settings=CONTEXT)
def zoo_group() -> None:
    """The classic CNN zoo: layer tables, training, transfer learning, style transfer and a GAN."""


@zoo_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(as_json: bool) -> None:
    """List the architectures, their usual input and options."""
    from facerec.zoo import get_spec, list_archs

    specs = [get_spec(name) for name in list_archs()]
    if as_json:
        emit({"archs": [{"name": s.name, "input": "x".join(map(str, s.input_size)), "options": sorted(s.options),
                         "description": s.description} for s in specs]})
        return
    for spec in specs:
        click.echo(f"{spec.name:<14} {'x'.join(map(str, spec.input_size)):<12} {spec.description}")


@zoo_group.command("summary")
@click.argument("arch")
@click.option("--input", "input_shape", default=None, help="Input as HxWxC, e.g. 32x32x3 (default: the arch's).")
@click.option("--classes", type=int, default=None, help="Number of classes (default 10, 1000 for ImageNet nets).")
@click.option("--width", type=float, default=None, help="Width multiplier (MobileNet v1/v2).")
@click.option("--layers", type=int, default=None, help="Network depth: DnCNN convolutions, U-Net levels.")
@click.option("--depth", type=int, default=None, help="List modules at this depth instead of the leaf layers.")
@click.option("--all", "all_layers", is_flag=True, help="Also list activations, dropout and flatten layers.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def summary_command(arch: str, input_shape: str | None, classes: int | None, width: float | None,
                    layers: int | None, depth: int | None, all_layers: bool, as_json: bool) -> None:
    """Print ARCH's layers: output shape, activation size, parameters, and the totals."""
    from facerec.zoo import get_arch, get_spec, summarize

    spec = get_spec(arch)
    if spec.task == "denoise":
        classes = 1  # a denoiser outputs an image, not classes
    parsed = _parse_shape(input_shape) if input_shape else spec.input_size
    shape = (parsed[0], parsed[1], parsed[2])
    num_classes = classes or spec.num_classes or (1000 if spec.input_size[0] >= 112 else 10)
    model = get_arch(arch, num_classes=num_classes, in_channels=shape[2], width=width, depth=layers)
    try:
        table = summarize(model, shape, depth=depth, all_layers=all_layers)
    except RuntimeError as exc:
        raise click.BadParameter(f"{arch} cannot take a {'x'.join(map(str, shape))} input: "
                                 f"{str(exc).splitlines()[0]}", param_hint="--input") from None
    if as_json:
        emit({"arch": arch, "classes": num_classes, **table.to_dict()})
    else:
        click.echo(f"{arch}, {num_classes} classes")
        click.echo(table.format())
        if spec.task != "classify":
            from facerec.zoo.summary import transpose_notes

            for note in transpose_notes(model, shape):
                click.echo(f"transpose convolution {note}")


@zoo_group.command("train")
@click.option("--arch", default=None, help="Architecture (see `facerec zoo list`); not needed with --from.")
@click.option("--data", required=True, help="mnist, digits, att, or a folder with one sub-folder per class.")
@click.option("--epochs", type=int, default=5, show_default=True, help="Passes over the training set.")
@click.option("--batch-size", type=int, default=128, show_default=True, help="Images per step.")
@click.option("--optimizer", type=click.Choice(["sgd", "rmsprop", "adam"]), default="adam", show_default=True,
              help="SGD with momentum, RMSProp or Adam.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Learning rate.")
@click.option("--momentum", type=float, default=0.9, show_default=True, help="Momentum (SGD, RMSProp).")
@click.option("--weight-decay", type=float, default=0.0, show_default=True, help="L2 weight decay.")
@click.option("--dropout", type=float, default=None, help="Dropout rate of the arch's dropout layers.")
@click.option("--width", type=float, default=None, help="Width multiplier (MobileNet v1/v2).")
@click.option("--augment", default="", help="Comma-separated: shift, rotate, flip (default: none).")
@click.option("--schedule", type=click.Choice(["cosine", "step", "constant"]), default="cosine",
              show_default=True, help="Learning-rate schedule over all steps.")
@click.option("--val-fraction", type=float, default=0.1, show_default=True,
              help="Share of the training images held out for validation (picks best.pt).")
@click.option("--train-per-class", type=int, default=None,
              help="Train on this many images per class, test on the rest (not MNIST).")
@click.option("--size", default=None, help="Input HxW (default: the arch's, e.g. 32x32 for LeNet-5).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of splits, init and batches.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda, cuda:1 or mps.")
@click.option("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice).")
@click.option("--out", "out_dir", default=None, help="Output folder (default: runs/ARCH-DATA).")
@click.option("--from", "from_checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Start from this zoo checkpoint (or pretrained:mobilefacenet, the face embedder); "
                   "its last layer is replaced for the new classes.")
@click.option("--freeze", default="none", show_default=True,
              help="With --from: none (fine-tune all), head (train the head only), N (freeze the first N "
                   "layers) or a layer name (freeze up to and including it).")
@click.option("--head-lr", type=float, default=None, help="Learning rate of the new head (default: --lr).")
@click.option("--test-every", type=int, default=1, show_default=True,
              help="Measure test accuracy every N epochs (0: after the last epoch only).")
@click.option("--no-bn-recalibrate", is_flag=True,
              help="Keep batch norm's running averages as trained instead of re-estimating them before testing.")
@click.option("--quiet", is_flag=True, help="No progress bar or per-epoch lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def train_command(arch: str | None, data: str, epochs: int, batch_size: int, optimizer: str, lr: float,
                  momentum: float, weight_decay: float, dropout: float | None, width: float | None, augment: str,
                  schedule: str, val_fraction: float, train_per_class: int | None, size: str | None, seed: int,
                  device: str, threads: int | None, out_dir: str | None, from_checkpoint: str | None,
                  freeze: str, head_lr: float | None, test_every: int, no_bn_recalibrate: bool,
                  quiet: bool, as_json: bool) -> None:
    """Train a zoo architecture on DATA, or transfer a checkpoint to it with --from."""
    import torch

    from facerec.zoo.train import TrainConfig, train

    if arch is None and from_checkpoint is None:
        raise click.UsageError("give --arch, or --from CHECKPOINT")
    if arch is not None:
        from facerec.zoo import get_spec

        task = get_spec(arch).task
        if task != "classify":
            raise click.UsageError(f"{arch} is a {task} network: train it with `facerec zoo {task}`")
    if threads:
        torch.set_num_threads(threads)
    name = arch or "transfer"
    config = TrainConfig(
        arch=arch or "", data=data, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
        momentum=momentum, weight_decay=weight_decay, dropout=dropout, width=width,
        augment=tuple(a.strip() for a in augment.split(",") if a.strip()), schedule=schedule,
        val_fraction=val_fraction, train_per_class=train_per_class,
        size=_pair(_parse_shape(size, 2)) if size else None, seed=seed, device=device,
        out_dir=out_dir or f"runs/{name}-{data.rstrip('/').split('/')[-1]}", from_checkpoint=from_checkpoint,
        freeze=freeze, head_lr=head_lr, test_every=test_every,
        recalibrate_bn=not no_bn_recalibrate, progress=not quiet and not as_json,
    )
    result = train(config)
    if as_json:
        emit(result.to_dict())
        return
    best = "" if result.best_test_accuracy is None else f", test {result.best_test_accuracy:.4f}"
    click.echo(f"test accuracy {result.test_accuracy:.4f} after {len(result.history)} epochs "
               f"(best.pt: epoch {result.best_epoch}{best}); {result.seconds:.0f}s; saved in {result.out_dir}")


def _pair(shape: tuple[int, ...]) -> tuple[int, int]:
    return shape[0], shape[1]


def _parse_shape(text: str, parts: int = 3) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != parts or min(shape) < 1:
        example = "32x32x3" if parts == 3 else "32x32"
        raise click.BadParameter(f"{text!r} is not a shape like {example}")
    return shape


# the generative and dense-prediction wings live in sibling modules
for _command in (style_command, gan_group, *zoo_denoise.COMMANDS, *zoo_segment.COMMANDS, *zoo_detect.COMMANDS):
    zoo_group.add_command(_command)
COMMAND = zoo_group
