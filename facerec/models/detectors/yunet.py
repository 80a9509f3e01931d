"""YuNet (Wu et al. 2023, libfacedetection.train): an anchor-free face detector of 0.1M parameters, in ONNX.

The network takes a BGR image (0-255, sides multiples of 32) and returns, for each of the strides
8, 16 and 32, per-cell class and objectness scores, box offsets and 5 landmarks; decoding follows
OpenCV's ``FaceDetectorYN``: score = sqrt(cls * obj), centre = (cell + offset) * stride,
size = exp(log-size) * stride, then non-maximum suppression.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from facerec.detection import Face
from facerec.models.detectors.base import Detector, group_by_shape, keep_faces, shrink
from facerec.runtime import onnx_session

__all__ = ["YuNetDetector"]

STRIDES = (8, 16, 32)


class YuNetDetector(Detector):
    """YuNet through onnxruntime; same-sized images (after ``max_side``) run as one batch."""

    name = "yunet"

    def __init__(self, *, weights_path: str | Path, variant: str = "n", min_score: float = 0.8,
                 nms_iou: float = 0.3, max_side: int = 640, threads: int | None = None) -> None:
        self.name = "yunet" if variant == "n" else f"yunet-{variant}"
        self.session = onnx_session(Path(weights_path), threads)
        self.min_score, self.nms_iou, self.max_side = min_score, nms_iou, max_side
        self._settings = {"name": self.name, "variant": variant, "min_score": min_score, "nms_iou": nms_iou,
                          "max_side": max_side, "version": 1}

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        scaled = [shrink(image, self.max_side) for image in images]
        results: list[list[Face]] = [[] for _ in images]
        for indices in group_by_shape(small for small, _ in scaled):
            height, width = scaled[indices[0]][0].shape[:2]
            pad_h, pad_w = -(-height // 32) * 32, -(-width // 32) * 32
            batch = np.zeros((len(indices), 3, pad_h, pad_w), np.float32)
            for row, i in enumerate(indices):
                batch[row, :, :height, :width] = scaled[i][0][:, :, ::-1].transpose(2, 0, 1)  # RGB -> BGR, CHW
            outputs = dict(zip([o.name for o in self.session.get_outputs()],
                               self.session.run(None, {"input": batch})))
            boxes, scores, landmarks = _decode(outputs, pad_h, pad_w)
            for row, i in enumerate(indices):
                results[i] = keep_faces(boxes[row], scores[row], landmarks[row], min_score=self.min_score,
                                        nms_iou=self.nms_iou, scale=scaled[i][1], name=self.name)
        return results


def _decode(outputs: dict[str, np.ndarray], height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes ``N x A x 4`` (x1, y1, x2, y2), scores ``N x A`` and landmarks ``N x A x 10`` in input pixels."""
    all_boxes, all_scores, all_points = [], [], []
    for stride in STRIDES:
        rows, cols = height // stride, width // stride
        cy, cx = np.divmod(np.arange(rows * cols, dtype=np.float32), cols)
        cls = np.clip(outputs[f"cls_{stride}"][..., 0], 0, 1)
        obj = np.clip(outputs[f"obj_{stride}"][..., 0], 0, 1)
        bbox, kps = outputs[f"bbox_{stride}"], outputs[f"kps_{stride}"]
        centre_x = (cx + bbox[..., 0]) * stride
        centre_y = (cy + bbox[..., 1]) * stride
        half_w = np.exp(bbox[..., 2]) * stride / 2
        half_h = np.exp(bbox[..., 3]) * stride / 2
        all_boxes.append(np.stack([centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h], -1))
        all_scores.append(np.sqrt(cls * obj))
        points = kps.reshape(*kps.shape[:2], 5, 2)
        points = (points + np.stack([cx, cy], -1)[None, :, None, :]) * stride
        all_points.append(points.reshape(*kps.shape[:2], 10))
    return np.concatenate(all_boxes, 1), np.concatenate(all_scores, 1), np.concatenate(all_points, 1)
