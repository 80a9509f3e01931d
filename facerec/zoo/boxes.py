"""Box arithmetic for single-shot detection: IoU, non-max suppression, k-means anchors, average precision.

Written here rather than borrowed so that the course's algorithms can be read in a few lines each;
the tests check :func:`box_iou` and :func:`nms` against ``torchvision.ops``. Boxes are ``(x1, y1, x2, y2)``.

>>> import torch
>>> box_iou(torch.tensor([[0., 0., 2., 2.]]), torch.tensor([[1., 1., 3., 3.]]))
tensor([[0.1429]])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["average_precision", "box_iou", "kmeans_anchors", "nms", "wh_iou"]


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """Intersection over union of every box of ``a`` (N x 4) with every box of ``b`` (M x 4): N x M."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=2)
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-max suppression: indices of the kept boxes, highest score first.

    Take the best remaining box, drop every box overlapping it by more than ``iou_threshold``, repeat.
    """
    order = torch.argsort(scores, descending=True, stable=True)
    overlaps = box_iou(boxes[order], boxes[order])
    alive = torch.ones(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(int(order[i]))
        alive &= overlaps[i] <= iou_threshold
    return torch.tensor(keep, dtype=torch.int64)


def wh_iou(wh: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """IoU of boxes (N x 2 widths and heights) with anchors (K x 2), both centred at the same point."""
    inter = np.minimum(wh[:, None, 0], anchors[None, :, 0]) * np.minimum(wh[:, None, 1], anchors[None, :, 1])
    union = wh[:, None].prod(2) + anchors[None].prod(2) - inter
    return inter / np.maximum(union, 1e-12)


def kmeans_anchors(wh: np.ndarray, k: int, *, seed: int = 0, iterations: int = 100) -> np.ndarray:
    """``k`` anchor shapes (K x 2, smallest area first) by k-means on box sizes with distance 1 - IoU.

    The YOLOv2 recipe: Euclidean k-means would favour large boxes, IoU treats every scale alike.
    """
    wh = np.asarray(wh, dtype=np.float64)
    if wh.ndim != 2 or wh.shape[1] != 2 or len(wh) < k or k < 1:
        raise ValueError(f"need at least k={k} boxes as an N x 2 array of widths and heights")
    rng = np.random.default_rng(seed)
    centres = wh[rng.choice(len(wh), k, replace=False)]
    for _ in range(iterations):
        nearest = wh_iou(wh, centres).argmax(1)
        updated = np.array([np.median(wh[nearest == j], 0) if np.any(nearest == j) else centres[j]
                            for j in range(k)])
        if np.allclose(updated, centres):
            break
        centres = updated
    return centres[np.argsort(centres.prod(1))]


def average_precision(predictions: Sequence[tuple[np.ndarray, np.ndarray]], truths: Sequence[np.ndarray],
                      *, iou_threshold: float = 0.5) -> float:
    """AP of scored boxes against true boxes over a set of images (the area under the interpolated
    precision-recall curve, VOC style). ``predictions[i]`` is (boxes N x 4, scores N), ``truths[i]`` M x 4.
    """
    records: list[tuple[float, bool]] = []
    total = sum(len(t) for t in truths)
    for (boxes, scores), truth in zip(predictions, truths):
        order = np.argsort(-np.asarray(scores), kind="stable")
        taken = np.zeros(len(truth), dtype=bool)
        overlaps = (box_iou(torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                            torch.as_tensor(truth, dtype=torch.float32).reshape(-1, 4)).numpy())
        for i in order:
            hit = False
            if len(truth):
                candidates = np.where(taken, -1.0, overlaps[i])
                best = int(candidates.argmax())
                if candidates[best] >= iou_threshold:
                    taken[best], hit = True, True
            records.append((float(scores[i]), hit))
    if total == 0:
        return 0.0
    records.sort(key=lambda r: -r[0])
    hits = np.cumsum([hit for _, hit in records])
    precision = hits / np.arange(1, len(records) + 1)
    recall = hits / total
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(records) else np.zeros(0)
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float(np.sum(steps * envelope))
