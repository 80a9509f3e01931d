"""Training an embedder with triplet (or contrastive) loss on P x K batches.

Each epoch: P x K batches of cached crops, augmentation, the embedder's own preprocessing
(:class:`~facerec.embedding.FaceEmbedder` forward), online mining, loss, step; then the
evaluators (epoch 0 is the model before any training). Written to ``out_dir``:
``model.pt`` (the plain network ``state_dict``, loadable with ``--weights``),
``checkpoint.pt`` (for ``resume``), ``metrics.csv``/``metrics.json`` and ``curves.png``.

>>> config = TrainConfig(backbone="resnet18", out_dir="runs/r18", epochs=2)  # doctest: +SKIP
>>> history = train(config, build_backbone(config), faces)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import torch
from torch import nn

from facerec.device import resolve_device
from facerec.errors import FaceRecError
from facerec.fileio import atomic_path
from facerec.models import get_model
from facerec.models.embedders.embedder import FaceEmbedder
from facerec.optim import freeze_parameters, make_optimizer, train_unfrozen
from facerec.progress import tqdm
from facerec.train.adversarial import adversarial_batch
from facerec.train.augment import Augment
from facerec.train.contrastive_loss import ContrastiveLoss
from facerec.train.data import FaceFolder
from facerec.train.evaluate import Evaluator
from facerec.train.miners import get_miner
from facerec.train.sampler import PKSampler
from facerec.train.triplet_loss import TripletLoss

__all__ = ["BACKBONES", "TrainConfig", "build_backbone", "set_frozen", "train"]

#: Backbone name -> registered model. inception_resnet_v1 starts from random weights unless
#: ``weights`` names a file: facenet-pytorch's VGGFace2 weights are not available offline.
BACKBONES = ("mobilefacenet", "resnet18", "resnet50", "inception_resnet_v1")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on; saved beside the checkpoint and checked on resume."""

    backbone: str = "mobilefacenet"
    out_dir: str = "runs/train"
    pretrained: bool = True
    weights: str | None = None
    input_size: int = 112
    standardize: bool = False
    epochs: int = 5
    p: int = 16
    k: int = 4
    batches_per_epoch: int | None = None
    loss: Literal["triplet", "contrastive"] = "triplet"
    miner: Literal["all", "hard", "semihard"] = "semihard"
    margin: float = 0.2
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    step_size: int = 10
    gamma: float = 0.1
    freeze: tuple[str, ...] = ()
    freeze_children: int = 0
    unfreeze_epoch: int | None = None
    augment: bool = True
    strong_augment: bool = False
    eval_every: int = 1
    eval_before: bool = True
    device: str = "auto"
    seed: int = 0
    adversarial_eps: float = 0.0  # > 0: train on PGD examples too (pixel levels, 1/255)
    adversarial_steps: int = 3


def build_backbone(config: TrainConfig) -> FaceEmbedder:
    """The embedder to train: pretrained or random, optionally started from ``config.weights``."""
    if config.backbone not in BACKBONES:
        raise FaceRecError(f"unknown backbone {config.backbone!r}; known: {', '.join(BACKBONES)}")
    if config.backbone == "mobilefacenet":
        use_file = config.pretrained or config.weights is not None
        model = get_model("mobilefacenet", weights_path=config.weights, pretrained=use_file)
    elif config.backbone == "inception_resnet_v1":
        model = get_model("inception_resnet_v1", weights_path=config.weights, pretrained=config.weights is not None)
    else:
        model = get_model(config.backbone, weights_path=config.weights, pretrained=config.weights is not None)
        if config.weights is None:
            net: Any = model.net  # a ResNet embedder: its input size and standardisation are buffers
            net.input_size.fill_(config.input_size)
            net.standardize.fill_(int(config.standardize))
    return model


def set_frozen(net: nn.Module, prefixes: Sequence[str] = (), children: int = 0) -> list[str]:
    """Freeze parameters whose name starts with a prefix, and the first ``children`` top-level
    modules; everything else is trainable. Returns the frozen parameter names."""
    first = tuple(f"{name}." for name, _ in list(net.named_children())[:children])
    names = [name for name, _ in net.named_parameters()]
    unmatched = [prefix for prefix in prefixes if not any(name.startswith(prefix) for name in names)]
    if unmatched:
        raise FaceRecError(f"--freeze {unmatched[0]!r} matches no parameter; names start like {names[0]!r}")
    return freeze_parameters(net, lambda name: name.startswith(tuple(prefixes)) or name.startswith(first))


def _optimizer(config: TrainConfig, model: FaceEmbedder) -> torch.optim.Optimizer:
    return make_optimizer(config.optimizer, list(model.net.parameters()), lr=config.lr, momentum=config.momentum,
                          weight_decay=config.weight_decay)


def _scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer):
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.epochs))
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


def _save(obj: object, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _config_dict(config: TrainConfig) -> dict:
    return json.loads(json.dumps(asdict(config)))


def train(
    config: TrainConfig, model: FaceEmbedder, data: FaceFolder, *, evaluators: Sequence[Evaluator] = (),
    resume: bool = False, progress: bool = True,
) -> list[dict[str, float]]:
    """Train ``model`` in place on ``data``; returns one metrics row per epoch (0 = before)."""
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)
    model.to(device)
    set_frozen(model.net, config.freeze, config.freeze_children)
    optimizer = _optimizer(config, model)
    scheduler = _scheduler(config, optimizer)
    criterion = TripletLoss(config.margin, reduction="nonzero" if config.miner == "all" else "mean")
    contrastive = ContrastiveLoss(margin=max(config.margin, 1e-3) * 5)
    miner = get_miner(config.miner)
    if not config.augment:
        augment = Augment(enabled=False)
    else:
        augment = Augment.strong() if config.strong_augment else Augment()
    history: list[dict[str, float]] = []
    start = 1
    checkpoint_path = out / "checkpoint.pt"
    if resume and checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        if _resumable(state["config"]) != _resumable(_config_dict(config)):
            raise FaceRecError(f"{checkpoint_path} was written with other settings; use a new --out")
        model.net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, start = state["history"], state["epoch"] + 1
    (out / "config.json").write_text(json.dumps(_config_dict(config), indent=2))
    if start == 1:
        before = _evaluate(model, evaluators) if config.eval_before else {}
        history = [{"epoch": 0, "loss": math.nan, "active": math.nan, "images_per_s": math.nan,
                    "lr": optimizer.param_groups[0]["lr"], **before}]
        _write_logs(out, history)
    for epoch in range(start, config.epochs + 1):
        if config.unfreeze_epoch is not None and epoch >= config.unfreeze_epoch:
            set_frozen(model.net)
        train_unfrozen(model)
        sampler = PKSampler(data.labels, p=config.p, k=config.k, batches=config.batches_per_epoch,
                            seed=config.seed * 1000 + epoch)
        generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
        losses, active, seen = [], [], 0
        tic = time.perf_counter()
        for batch in tqdm(sampler, desc=f"epoch {epoch}/{config.epochs}", unit="batch", disable=not progress):
            pixels = torch.from_numpy(data.crops[batch]).permute(0, 3, 1, 2).float().div_(255.0)
            pixels = augment(pixels, generator).to(device)
            labels = torch.from_numpy(data.labels[batch]).to(device)
            if config.adversarial_eps > 0:
                # half clean, half adversarial (Goodfellow et al. 2015), so clean accuracy is kept
                adversarial = adversarial_batch(model, pixels, labels, eps=config.adversarial_eps,
                                                steps=config.adversarial_steps, generator=generator)
                pixels, labels = torch.cat([pixels, adversarial]), torch.cat([labels, labels])
            embeddings = model(pixels)
            if config.loss == "contrastive":
                loss, fraction = contrastive(embeddings, labels), 1.0
            else:
                triplets = miner(embeddings, labels)
                loss = criterion(embeddings, triplets)
                fraction = _active_fraction(embeddings.detach(), triplets, config.margin)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            active.append(fraction)
            seen += len(batch)
        elapsed = time.perf_counter() - tic
        row = {"epoch": epoch, "loss": float(np.mean(losses)), "active": float(np.mean(active)),
               "images_per_s": seen / elapsed, "lr": optimizer.param_groups[0]["lr"]}
        scheduler.step()
        if epoch == config.epochs or (config.eval_every > 0 and epoch % config.eval_every == 0):
            row.update(_evaluate(model, evaluators))
        history.append(row)
        _write_logs(out, history)
        _save(model.net.state_dict(), out / "model.pt")
        _save({"net": model.net.state_dict(), "optimizer": optimizer.state_dict(),
               "scheduler": scheduler.state_dict(), "epoch": epoch, "history": history,
               "config": _config_dict(config)}, checkpoint_path)
    if start > config.epochs and not (out / "model.pt").exists():
        _save(model.net.state_dict(), out / "model.pt")
    model.eval()
    return history


def _resumable(config: dict) -> dict:
    # More epochs (or another output folder) may be asked for on resume; nothing else may change.
    # Settings added since a checkpoint was written count as their defaults.
    config = {**_config_dict(TrainConfig()), **config}
    return {key: value for key, value in config.items() if key not in ("epochs", "out_dir")}


def _active_fraction(embeddings: torch.Tensor, triplets, margin: float) -> float:
    anchor, positive, negative = triplets
    if len(anchor) == 0:
        return 0.0
    ap = (embeddings[anchor] - embeddings[positive]).pow(2).sum(1)
    an = (embeddings[anchor] - embeddings[negative]).pow(2).sum(1)
    return float((ap - an + margin > 0).float().mean())


def _evaluate(model: FaceEmbedder, evaluators: Sequence[Evaluator]) -> dict[str, float]:
    model.eval()
    metrics: dict[str, float] = {}
    for evaluator in evaluators:
        metrics.update(evaluator(model))
    return metrics


def _write_logs(out: Path, history: list[dict[str, float]]) -> None:
    keys = list(dict.fromkeys(key for row in history for key in row))
    with (out / "metrics.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
    (out / "metrics.json").write_text(json.dumps(history, indent=2))
    _plot(out / "curves.png", history, keys)


def _plot(path: Path, history: list[dict[str, float]], keys: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [row.get("loss", math.nan) for row in history], "o-", label="training loss")
    left.plot(epochs, [row.get("active", math.nan) for row in history], "s--", label="active triplets")
    left.set_xlabel("epoch")
    left.legend()
    for key in keys:
        if "accuracy" in key or "rank1" in key or "tar@" in key:
            right.plot(epochs, [row.get(key, math.nan) for row in history], "o-", label=key)
    right.set_xlabel("epoch (0 = before training)")
    right.set_ylabel("held-out metric")
    if right.lines:
        right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
