"""A YOLO-style single-shot face detector: an S x S grid, B anchor boxes per cell, one pass.

Each cell predicts, for each of its B anchors, 15 numbers: objectness, the box (tx, ty, tw, th) and
5 landmarks (x, y). As in YOLOv2 the box centre is ``(cell + sigmoid(t)) * stride`` and its size
``anchor * exp(t)``; landmarks are offsets from the box centre in anchor units. A true face is given
to the cell holding its centre and to the anchor whose shape fits it best (IoU of centred boxes).
The loss follows YOLOv1's weights: 5 on boxes, 0.5 on empty cells, plus a smooth L1 on landmarks.

>>> model = yolo_face(anchors=((20, 24), (45, 55), (90, 110)))
>>> tuple(model(torch.zeros(1, 3, 192, 192)).shape)
(1, 3, 15, 12, 12)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facerec.zoo.boxes import nms, wh_iou

__all__ = ["STRIDE", "YoloFace", "decode", "encode_targets", "yolo_face", "yolo_loss"]

STRIDE = 16
_VALUES = 15  # objectness, 4 box, 10 landmark numbers
_DEFAULT_ANCHORS = ((20.0, 24.0), (45.0, 55.0), (90.0, 110.0))


def _conv(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.1, inplace=True))


class YoloFace(nn.Module):
    """Backbone of strided 3x3 convolutions down to a 1/16 grid, and a 1x1 head; output N x B x 15 x S x S."""

    anchors: Tensor  # B x 2 (w, h) in input pixels, a registered buffer

    def __init__(self, anchors: Sequence[Sequence[float]] = _DEFAULT_ANCHORS, *, in_channels: int = 3,
                 width: float = 1.0) -> None:
        super().__init__()
        c = [max(4, round(n * width)) for n in (16, 32, 64, 128)]
        self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32).reshape(-1, 2))
        self.backbone = nn.Sequential(
            _conv(in_channels, c[0], 2), _conv(c[0], c[1], 2), _conv(c[1], c[1]),
            _conv(c[1], c[2], 2), _conv(c[2], c[2]), _conv(c[2], c[3], 2), _conv(c[3], c[3]),
        )
        self.head = nn.Conv2d(c[3], len(self.anchors) * _VALUES, 1)

    def forward(self, x: Tensor) -> Tensor:
        out = self.head(self.backbone(x))
        n, _, s_h, s_w = out.shape
        return out.view(n, len(self.anchors), _VALUES, s_h, s_w)


def yolo_face(*, anchors: Sequence[Sequence[float]] = _DEFAULT_ANCHORS, in_channels: int = 3, width: float = 1.0,
              num_classes: int = 1) -> YoloFace:
    """The face grid detector; ``anchors`` are (w, h) pairs in input pixels, ``num_classes`` must be 1 (faces)."""
    if num_classes != 1:
        raise ValueError("the YOLO-style face detector has one class (face)")
    return YoloFace(anchors, in_channels=in_channels, width=width)


def encode_targets(boxes: Sequence[np.ndarray], landmarks: Sequence[np.ndarray], anchors: Tensor,
                   grid: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Per image, true boxes (M x 4) and landmarks (M x 5 x 2) as targets (N x B x 14 x S x S), and the
    mask (N x B x S x S) of the anchors that hold a face."""
    count, anchor_count = len(boxes), len(anchors)
    targets = torch.zeros(count, anchor_count, _VALUES - 1, *grid)
    positive = torch.zeros(count, anchor_count, *grid, dtype=torch.bool)
    anchor_np = anchors.numpy()
    for n, (image_boxes, image_marks) in enumerate(zip(boxes, landmarks)):
        if len(image_boxes) == 0:
            continue
        wh = np.maximum(image_boxes[:, 2:] - image_boxes[:, :2], 1.0)
        centre = (image_boxes[:, :2] + image_boxes[:, 2:]) / 2
        best = wh_iou(wh, anchor_np).argmax(1)
        for m in range(len(image_boxes)):
            col = int(np.clip(centre[m, 0] // STRIDE, 0, grid[1] - 1))
            row = int(np.clip(centre[m, 1] // STRIDE, 0, grid[0] - 1))
            a = int(best[m])
            offset = centre[m] / STRIDE - np.array([col, row])
            size = np.log(wh[m] / anchor_np[a])
            marks = ((image_marks[m] - centre[m]) / anchor_np[a]).reshape(-1)
            targets[n, a, :, row, col] = torch.from_numpy(np.concatenate([offset, size, marks]).astype(np.float32))
            positive[n, a, row, col] = True
    return targets, positive


def yolo_loss(output: Tensor, targets: Tensor, positive: Tensor, *, coord: float = 5.0, noobj: float = 0.5,
              landmark: float = 1.0) -> Tensor:
    """Objectness BCE (empty cells weighted ``noobj``), box MSE x ``coord``, landmark smooth L1; per image."""
    objectness = output[:, :, 0]
    weight = torch.where(positive, torch.ones_like(objectness), torch.full_like(objectness, noobj))
    obj_loss = (F.binary_cross_entropy_with_logits(objectness, positive.float(), reduction="none") * weight).sum()
    pred = output[:, :, 1:].permute(0, 1, 3, 4, 2)[positive]
    true = targets.permute(0, 1, 3, 4, 2)[positive]
    box_loss = F.mse_loss(pred[:, :2].sigmoid(), true[:, :2], reduction="sum") + \
        F.mse_loss(pred[:, 2:4], true[:, 2:4], reduction="sum")
    mark_loss = F.smooth_l1_loss(pred[:, 4:], true[:, 4:], reduction="sum", beta=0.1)
    return (obj_loss + coord * box_loss + landmark * mark_loss) / output.shape[0]


def decode(output: Tensor, anchors: Tensor, *, min_score: float = 0.3, nms_iou: float = 0.4
           ) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Per image (boxes K x 4, scores K, landmarks K x 5 x 2) in input pixels, after non-max suppression."""
    n, anchor_count, _, s_h, s_w = output.shape
    rows, cols = torch.meshgrid(torch.arange(s_h), torch.arange(s_w), indexing="ij")
    cell = torch.stack([cols, rows]).float()  # 2 x S x S, (x, y)
    size = anchors.view(1, anchor_count, 2, 1, 1)
    centre = (cell + output[:, :, 1:3].sigmoid()) * STRIDE
    wh = size * output[:, :, 3:5].clamp(max=6).exp()
    marks = centre.unsqueeze(2) + output[:, :, 5:].view(n, anchor_count, 5, 2, s_h, s_w) * size.unsqueeze(2)
    boxes = torch.cat([centre - wh / 2, centre + wh / 2], dim=2)
    scores = output[:, :, 0].sigmoid()
    results = []
    for i in range(n):
        keep = scores[i] >= min_score
        image_boxes = boxes[i].permute(0, 2, 3, 1)[keep]
        image_scores = scores[i][keep]
        image_marks = marks[i].permute(0, 3, 4, 1, 2)[keep]
        order = nms(image_boxes, image_scores, nms_iou)
        results.append((image_boxes[order], image_scores[order], image_marks[order]))
    return results
