"""The YOLO-style grid face detector's network: an S x S grid, B anchor boxes per cell, one pass.

Each cell predicts, for each of its B anchors, 15 numbers: objectness, the box (tx, ty, tw, th) and
5 landmarks (x, y). As in YOLOv2 the box centre is ``(cell + sigmoid(t)) * stride`` and its size
``anchor * exp(t)``; landmarks are offsets from the box centre in anchor units. The network and its
decoding live here, with the product's detectors (:class:`~facerec.models.detectors.yolo_face.YoloFaceDetector`
runs it); how it is trained (targets, loss, data) is the zoo's (:mod:`facerec.zoo.yolo`), which imports this
module, never the reverse. Blocks, model, builder, then decoding and checkpoints.

>>> model = yolo_face(anchors=((20, 24), (45, 55), (90, 110)))
>>> tuple(model(torch.zeros(1, 3, 192, 192)).shape)
(1, 3, 15, 12, 12)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from facerec.errors import WeightsError
from facerec.models.detectors.base import nms

__all__ = ["STRIDE", "CHECKPOINT_FORMAT", "YoloFace", "decode", "load_yolo_face", "yolo_face"]

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
        order = torch.from_numpy(nms(image_boxes.numpy(), image_scores.numpy(), nms_iou))
        results.append((image_boxes[order], image_scores[order], image_marks[order]))
    return results


#: The zoo's dense checkpoint format (``facerec.zoo.dense_checkpoint``), which ``facerec zoo detect`` writes.
CHECKPOINT_FORMAT = "facerec-zoo-dense/1"


def load_yolo_face(path: str | Path) -> tuple[YoloFace, dict[str, Any]]:
    """The trained network of a ``yolo_face.pt`` checkpoint (in eval mode) and its facts (``min_score``,
    ``input_size``...); one clear :class:`~facerec.errors.WeightsError` when it is not one."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not our checkpoint"
        raise WeightsError(f"cannot read the yolo-face checkpoint {path}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise WeightsError(f"{path} is not a zoo checkpoint ({CHECKPOINT_FORMAT})")
    if payload.get("arch") != "yolo-face":
        raise WeightsError(f"{path} holds a {payload.get('arch')}; expected yolo-face")
    model = yolo_face(**payload["options"])
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as exc:
        raise WeightsError(f"{path} does not fit the yolo-face network: {str(exc).splitlines()[0]}") from None
    return model.eval(), {**payload.get("extra", {}), "arch": "yolo-face", "options": payload["options"]}
