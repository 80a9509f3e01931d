"""Training and measuring U-Net on per-pixel labels: M2NIST canvases or a folder of image/mask pairs.

Loss is per-pixel cross-entropy, or cross-entropy plus soft Dice (``loss="dice"``). Mean IoU is
accumulated over the whole test set per class (intersection and union summed over pixels), then
averaged over the classes that occur in the truth or the prediction.

>>> result = train_segmenter(SegmentConfig(arch="unet"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facerec.errors import DatasetError
from facerec.progress import tqdm
from facerec.zoo.dense_checkpoint import save_dense
from facerec.zoo.m2nist import BACKGROUND, load_mask_folder, make_canvases
from facerec.zoo.registry import get_arch, get_spec
from facerec.zoo.unet import dice_loss

__all__ = ["SegmentConfig", "SegmentResult", "confusion", "load_segmentation", "mean_iou", "train_segmenter"]


class _UNetOptions(TypedDict):
    """The :func:`get_arch` options of a U-Net that a checkpoint stores."""

    num_classes: int
    in_channels: int
    depth: int
    width: float


@dataclass(frozen=True)
class SegmentConfig:
    """One run. ``data`` is ``m2nist`` or a folder with ``images/`` and ``masks/``."""

    arch: str = "unet"
    data: str = "m2nist"
    depth: int = 3
    width: float = 0.25
    loss: str = "ce"
    train_size: int = 2000
    test_size: int = 500
    epochs: int = 5
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0
    out_dir: str = "runs/unet"
    progress: bool = True  # a step bar on stderr with the epoch's loss


@dataclass(frozen=True)
class SegmentResult:
    config: SegmentConfig
    losses: tuple[float, ...]
    mean_iou: float
    digit_iou: float | None
    class_iou: tuple[float, ...]
    pixel_accuracy: float
    params: int
    seconds: float
    checkpoint: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def load_segmentation(config: SegmentConfig) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    """(train images, train masks, test images, test masks, number of classes)."""
    if config.data == "m2nist":
        train_x, train_y = make_canvases("train", config.train_size, seed=config.seed)
        test_x, test_y = make_canvases("test", config.test_size, seed=config.seed)
        return train_x, train_y, test_x, test_y, BACKGROUND + 1
    images, masks = load_mask_folder(config.data)
    order = torch.from_numpy(np.random.default_rng(config.seed).permutation(len(images)))
    cut = len(images) - max(1, round(0.2 * len(images)))
    if cut < 1:
        raise DatasetError(f"{config.data} needs at least two image/mask pairs")
    return images[order[:cut]], masks[order[:cut]], images[order[cut:]], masks[order[cut:]], int(masks.max()) + 1


def confusion(predicted: Tensor, truth: Tensor, num_classes: int) -> Tensor:
    """The num_classes x num_classes pixel confusion matrix (rows: truth, columns: prediction)."""
    index = truth.reshape(-1) * num_classes + predicted.reshape(-1)
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def mean_iou(matrix: Tensor) -> tuple[float, list[float]]:
    """Mean IoU over the classes that occur (in truth or prediction), and every class's IoU (NaN if absent)."""
    matrix = matrix.double()
    inter = matrix.diag()
    union = matrix.sum(0) + matrix.sum(1) - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(inter, float("nan")))
    return float(iou[union > 0].mean()), [float(v) for v in iou]


def train_segmenter(config: SegmentConfig) -> SegmentResult:
    """Train ``config.arch`` (unet or unet-noskip), measure mean IoU on the test part, save ``ARCH.pt``."""
    if get_spec(config.arch).task != "segment":
        raise DatasetError(f"{config.arch} is not a segmentation network")
    if config.loss not in ("ce", "dice"):
        raise ValueError(f"loss must be 'ce' or 'dice', got {config.loss!r}")
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    train_x, train_y, test_x, test_y, classes = load_segmentation(config)
    options: _UNetOptions = {"num_classes": classes, "in_channels": 1, "depth": config.depth, "width": config.width}
    model = get_arch(config.arch, **options)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    steps = config.epochs * max(1, len(train_x) // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=steps)
    generator = torch.Generator().manual_seed(config.seed)
    losses = []
    model.train()
    bar = tqdm(total=steps, desc=config.arch, unit="step", disable=not config.progress)
    for _ in range(config.epochs):
        order, total, count = torch.randperm(len(train_x), generator=generator), 0.0, 0
        for start in range(0, len(order) - config.batch_size + 1, config.batch_size):
            batch = order[start : start + config.batch_size]
            logits = model(train_x[batch].float() / 255.0)
            loss = _loss(logits, train_y[batch], config.loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total, count = total + loss.item(), count + 1
            bar.update()
        losses.append(total / max(count, 1))
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    bar.close()
    predicted = predict(model, test_x)
    matrix = confusion(predicted, test_y, classes)
    miou, per_class = mean_iou(matrix)
    digits = [v for v in per_class[:BACKGROUND] if not np.isnan(v)] if config.data == "m2nist" else []
    out = Path(config.out_dir)
    checkpoint = save_dense(out / f"{config.arch}.pt", config.arch, options, model, data=config.data, seed=config.seed)
    result = SegmentResult(config, tuple(losses), miou, float(np.mean(digits)) if digits else None, tuple(per_class),
                           float(matrix.diag().sum() / matrix.sum()), sum(p.numel() for p in model.parameters()),
                           time.perf_counter() - started, str(checkpoint))
    (out / f"{config.arch}.json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    return result


def predict(model: nn.Module, images: Tensor, batch_size: int = 64) -> Tensor:
    """Per-pixel class ids (N x H x W) of uint8 images."""
    model.eval()
    with torch.inference_mode():
        return torch.cat([model(images[i : i + batch_size].float() / 255.0).argmax(1)
                          for i in range(0, len(images), batch_size)])


def _loss(logits: Tensor, target: Tensor, kind: str) -> Tensor:
    loss = F.cross_entropy(logits, target)
    return loss + dice_loss(logits, target) if kind == "dice" else loss
