"""The zoo trainer: one function from (architecture, data, options) to a trained checkpoint.

A seeded validation split is carved from the training part; every epoch reports train, validation and
test accuracy. ``best.pt`` is the epoch with the best validation accuracy (the last one when there is
no validation split), ``last.pt`` the last epoch, and ``curve.png`` the loss and accuracy curves.

>>> result = train(TrainConfig(arch="lenet5", data="mnist", epochs=5))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn

from facerec.device import resolve_device
from facerec.errors import FaceRecError
from facerec.fileio import atomic_path
from facerec.optim import make_optimizer
from facerec.progress import tqdm
from facerec.zoo.augment import augment_batch
from facerec.zoo.data import ImageData, load_data
from facerec.zoo.googlenet import classification_loss, main_logits
from facerec.zoo.registry import ArchOptions, get_arch, get_spec
from facerec.zoo.transfer import (
    Checkpoint,
    freeze_layers,
    load_checkpoint,
    param_groups,
    replace_heads,
    save_checkpoint,
    set_train_mode,
)

__all__ = ["EpochStats", "TrainConfig", "TrainResult", "evaluate", "recalibrate_batchnorm", "train"]

OPTIMIZERS = ("sgd", "rmsprop", "adam")
SCHEDULES = ("cosine", "step", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on. ``size`` overrides the architecture's input (H, W)."""

    arch: str
    data: str
    epochs: int = 5
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    dropout: float | None = None
    width: float | None = None
    augment: tuple[str, ...] = ()
    schedule: str = "cosine"
    val_fraction: float = 0.1
    train_per_class: int | None = None
    size: tuple[int, int] | None = None
    seed: int = 0
    device: str = "cpu"
    out_dir: str = "runs/zoo"
    from_checkpoint: str | None = None
    freeze: str = "none"
    head_lr: float | None = None
    limit: int | None = None
    test_every: int = 1
    recalibrate_bn: bool = True
    progress: bool = True


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    test_accuracy: float | None
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """The history, the test accuracy of the last epoch and of ``best.pt``, and where things were saved."""

    config: TrainConfig
    history: tuple[EpochStats, ...]
    test_accuracy: float
    best_epoch: int
    best_test_accuracy: float | None
    params: int
    trainable_params: int
    frozen_layers: tuple[str, ...]
    out_dir: str
    seconds: float = field(default=0.0)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def train(config: TrainConfig) -> TrainResult:
    """Train ``config.arch`` on ``config.data`` and save checkpoints and curves under ``config.out_dir``."""
    _check(config)
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    source = load_checkpoint(config.from_checkpoint) if config.from_checkpoint else None
    arch = source.arch if source else config.arch
    spec = get_spec(arch)
    size = (source.input_size[0], source.input_size[1]) if source else \
        (config.size or (spec.input_size[0], spec.input_size[1]))
    data = load_data(config.data, size=size, channels=source.in_channels if source else None,
                     train_per_class=config.train_per_class, seed=config.seed)
    model, frozen = _model(config, arch, data, source)
    model.to(device)
    train_x, train_y, val_x, val_y = _validation_split(data, config)
    # A checkpoint's normalisation ships with its weights; a fresh model uses its training set's.
    mean, std = (source.mean, source.std) if source else _stats(train_x)
    options: ArchOptions = {**source.options} if source else {}
    if config.dropout is not None:
        options["dropout"] = config.dropout
    if config.width is not None:
        options["width"] = config.width
    optimizer = _optimizer(config, param_groups(model, arch, config.lr, config.head_lr))
    steps = config.epochs * math.ceil(len(train_x) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config.schedule, steps))
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[EpochStats] = []
    best: tuple[float, int, float | None] = (-1.0, 0, None)  # (validation accuracy, epoch, test accuracy)
    for epoch in range(1, config.epochs + 1):
        tic = time.perf_counter()
        loss, accuracy = _epoch(model, optimizer, scheduler, train_x, train_y, mean, std, config, device,
                                generator, epoch)
        test_acc = None
        testing = epoch == config.epochs or (config.test_every and epoch % config.test_every == 0)
        if config.recalibrate_bn and (testing or len(val_x)):
            recalibrate_batchnorm(model, train_x, mean, std, device, config.batch_size)
        val_loss, val_acc = evaluate(model, val_x, val_y, mean, std, device) if len(val_x) else (None, None)
        if testing:
            _, test_acc = evaluate(model, data.test_x, data.test_y, mean, std, device)
        history.append(EpochStats(epoch, loss, accuracy, val_loss, val_acc, test_acc, time.perf_counter() - tic))
        checkpoint = Checkpoint(arch, data.classes, data.channels, data.size, options, mean, std,
                                {k: v.detach().cpu() for k, v in model.state_dict().items()})
        save_checkpoint(out / "last.pt", checkpoint, epoch=epoch, test_accuracy=test_acc)
        score = val_acc if val_acc is not None else float(epoch)
        if score >= best[0]:
            best = (score, epoch, test_acc)
            save_checkpoint(out / "best.pt", checkpoint, epoch=epoch, val_accuracy=val_acc, test_accuracy=test_acc)
        if config.progress:
            val_text = f"val {val_acc:.4f}  " if val_acc is not None else ""
            test_text = f"test {test_acc:.4f}  " if test_acc is not None else ""
            tqdm.write(f"epoch {epoch}: loss {loss:.4f}  train {accuracy:.4f}  {val_text}{test_text}"
                       f"({history[-1].seconds:.1f}s)")
    _plot(history, out / "curve.png", f"{arch} on {data.name}")
    params = list(model.parameters())
    final_test = cast(float, history[-1].test_accuracy)  # the last epoch is always tested
    result = TrainResult(config, tuple(history), final_test, best[1], best[2],
                         sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad),
                         tuple(frozen), str(out), time.perf_counter() - started)
    (out / "result.json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    return result


def evaluate(model: nn.Module, x: Tensor, y: Tensor, mean: tuple[float, ...], std: tuple[float, ...],
             device: torch.device, batch_size: int = 500) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (in eval mode) on uint8 images ``x``."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            inputs = _normalise(x[start : start + batch_size], mean, std, device)
            targets = y[start : start + batch_size].to(device)
            logits = main_logits(model(inputs))
            total_loss += float(nn.functional.cross_entropy(logits, targets, reduction="sum"))
            correct += int((logits.argmax(1) == targets).sum())
    model.train(was_training)
    return total_loss / max(1, len(x)), correct / max(1, len(x))


def recalibrate_batchnorm(model: nn.Module, x: Tensor, mean: tuple[float, ...], std: tuple[float, ...],
                          device: torch.device, batch_size: int = 128) -> bool:
    """Re-estimate the running statistics of the trainable batch-norm layers on ``x`` (no augmentation).

    After a short run with a high learning rate the running averages trail the weights, and a net that
    is 97% right on its training batches can be near chance in eval mode; one plain pass over the
    training images with a cumulative average fixes that. Frozen batch-norm layers are left alone.
    Returns False when there was nothing to recalibrate.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
             and m.track_running_stats and (m.weight is None or m.weight.requires_grad)]
    if not norms or len(x) < 2:
        return False
    was_training = model.training
    model.eval()
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the pass
        m.train()
    with torch.no_grad():
        for chunk in torch.arange(len(x)).tensor_split(max(1, len(x) // batch_size)):
            model(_normalise(x[chunk], mean, std, device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.train(was_training)
    return True


def _epoch(model, optimizer, scheduler, x, y, mean, std, config, device, generator, epoch):
    set_train_mode(model)
    order = torch.randperm(len(x), generator=generator)
    total_loss, correct, seen = 0.0, 0, 0
    batches = range(0, len(x), config.batch_size)
    bar = tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False,
               disable=not config.progress)
    for start in bar:
        index = order[start : start + config.batch_size]
        inputs = _normalise(x[index], mean, std, device)
        if config.augment:
            inputs = augment_batch(inputs, config.augment, generator)
        targets = y[index].to(device)
        outputs = model(inputs)
        loss = classification_loss(outputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * len(index)
        correct += int((main_logits(outputs).argmax(1) == targets).sum())
        seen += len(index)
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
    return total_loss / seen, correct / seen


def _model(config: TrainConfig, arch: str, data: ImageData, source: Checkpoint | None):
    if source is None:
        model = get_arch(arch, num_classes=len(data.classes), in_channels=data.channels,
                         dropout=config.dropout, width=config.width)
    else:
        if config.width is not None and config.width != source.options.get("width"):
            raise FaceRecError("--width cannot change when transferring from a checkpoint")
        model = source.build()
        replace_heads(model, arch, len(data.classes))
        if config.dropout is not None:
            for module in model.modules():
                if isinstance(module, nn.Dropout):
                    module.p = config.dropout
    return model, freeze_layers(model, arch, config.freeze)


def _validation_split(data: ImageData, config: TrainConfig):
    x, y = data.train_x, data.train_y
    rng = np.random.default_rng(config.seed)
    order = torch.from_numpy(rng.permutation(len(x)))
    if config.limit:
        order = order[: config.limit]
    n_val = round(len(order) * config.val_fraction)
    val, fit = order[:n_val], order[n_val:]
    if len(fit) == 0:
        raise FaceRecError("no training images left after the validation split")
    return x[fit], y[fit], x[val], y[val]


def _stats(x: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    sample = x[:10000].float() / 255.0
    mean = sample.mean(dim=(0, 2, 3))
    std = sample.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(mean.tolist()), tuple(std.tolist())


def _normalise(x: Tensor, mean, std, device) -> Tensor:
    x = x.to(device).float().div_(255.0)
    m = torch.tensor(mean, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=device).view(1, -1, 1, 1)
    return (x - m) / s


def _optimizer(config: TrainConfig, groups: list[dict]) -> torch.optim.Optimizer:
    return make_optimizer(config.optimizer, groups, lr=config.lr, momentum=config.momentum,
                          weight_decay=config.weight_decay)


def _schedule(name: str, steps: int):
    """A multiplier of the learning rate per step: cosine to zero, /10 at 50% and 75%, or constant."""
    if name == "cosine":
        return lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / max(1, steps)))
    if name == "step":
        return lambda step: 0.1 ** ((step >= steps // 2) + (step >= 3 * steps // 4))
    return lambda step: 1.0


def _check(config: TrainConfig) -> None:
    if config.optimizer not in OPTIMIZERS:
        raise FaceRecError(f"unknown optimizer {config.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
    if config.schedule not in SCHEDULES:
        raise FaceRecError(f"unknown schedule {config.schedule!r}; known: {', '.join(SCHEDULES)}")
    if config.epochs < 1 or config.batch_size < 1:
        raise FaceRecError("epochs and batch size must be at least 1")
    if not 0 <= config.val_fraction < 1:
        raise FaceRecError("the validation fraction must be in [0, 1)")
    if config.test_every < 0:
        raise FaceRecError("test_every must be 0 (last epoch only) or more")
    if config.from_checkpoint is None and config.freeze != "none":
        raise FaceRecError("--freeze needs --from CHECKPOINT")


def _plot(history: list[EpochStats], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [h.epoch for h in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [h.train_loss for h in history], "o-", label="train")
    if history[0].val_loss is not None:
        left.plot(epochs, [h.val_loss for h in history], "o-", label="validation")
    left.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    right.plot(epochs, [h.train_accuracy for h in history], "o-", label="train (running)")
    if history[0].val_accuracy is not None:
        right.plot(epochs, [h.val_accuracy for h in history], "o-", label="validation")
    tested = [h for h in history if h.test_accuracy is not None]
    right.plot([h.epoch for h in tested], [h.test_accuracy for h in tested], "o-", label="test")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for axis in (left, right):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110)
    plt.close(figure)
