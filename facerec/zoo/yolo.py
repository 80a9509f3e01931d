"""Training the YOLO-style single-shot face detector: its targets and its loss.

The network and its decoding (``YoloFace``, ``yolo_face``, ``decode``) belong to the product's detectors,
:mod:`facerec.models.detectors.yolo_net`, and are re-exported here. A true face is given to the cell holding
its centre and to the anchor whose shape fits it best (IoU of centred boxes). The loss follows YOLOv1's
weights: 5 on boxes, 0.5 on empty cells, plus a smooth L1 on landmarks.

>>> model = yolo_face(anchors=((20, 24), (45, 55), (90, 110)))
>>> tuple(model(torch.zeros(1, 3, 192, 192)).shape)
(1, 3, 15, 12, 12)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from facerec.models.detectors.yolo_net import _VALUES, STRIDE, YoloFace, decode, yolo_face
from facerec.zoo.boxes import wh_iou

__all__ = ["STRIDE", "YoloFace", "decode", "encode_targets", "yolo_face", "yolo_loss"]


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
