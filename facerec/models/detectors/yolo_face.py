"""The YOLO-style grid detector behind the :class:`Detector` interface (an option, not the default).

Its network is :mod:`facerec.models.detectors.yolo_net`; its weights are a checkpoint trained with the
zoo (``facerec zoo detect``), found through ``FACEREC_YOLO_WEIGHTS``. Nothing here imports the zoo.
Photos are scaled (longest side to the training size) and padded to a square.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from facerec.detection import Face
from facerec.errors import WeightsNotFoundError
from facerec.models.detectors.base import Detector

__all__ = ["YoloFaceDetector", "yolo_weights_path"]


def yolo_weights_path() -> Path:
    """``FACEREC_YOLO_WEIGHTS``; an error saying how to make one when it is unset or missing."""
    path = Path(os.environ.get("FACEREC_YOLO_WEIGHTS", ""))
    if not str(os.environ.get("FACEREC_YOLO_WEIGHTS", "")) or not path.is_file():
        raise WeightsNotFoundError("the yolo-face detector has no released weights: train them with "
                                   "`facerec zoo detect` and set FACEREC_YOLO_WEIGHTS to the yolo_face.pt it writes")
    return path


class YoloFaceDetector(Detector):
    """Faces from a trained :class:`~facerec.models.detectors.yolo_net.YoloFace` checkpoint (PyTorch)."""

    name = "yolo-face"

    def __init__(self, weights_path: str | Path, *, min_score: float | None = None, nms_iou: float = 0.4) -> None:
        from facerec.models.detectors.yolo_net import load_yolo_face

        self.model, facts = load_yolo_face(weights_path)
        # the operating point chosen on training mosaics (best F1), unless given
        min_score = float(facts.get("min_score", 0.5)) if min_score is None else min_score
        self.size = int(facts.get("input_size", 192))
        self.min_score, self.nms_iou = min_score, nms_iou
        self._settings = {"name": self.name, "weights": str(weights_path), "mtime": Path(weights_path).stat().st_mtime,
                          "min_score": min_score, "nms_iou": nms_iou, "version": 1}

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        import torch

        from facerec.models.detectors.yolo_net import decode

        squares, scales = zip(*(self._square(image) for image in images))
        batch = torch.from_numpy(np.stack(squares)).permute(0, 3, 1, 2).float() / 255.0
        with torch.inference_mode():
            found = decode(self.model(batch), self.model.anchors, min_score=self.min_score, nms_iou=self.nms_iou)
        return [
            [Face(box=tuple(float(v) / scale for v in box), score=float(score),
                  landmarks=tuple((float(x) / scale, float(y) / scale) for x, y in marks), detector=self.name)
             for box, score, marks in zip(boxes, scores, landmarks)]
            for (boxes, scores, landmarks), scale in zip(found, scales)
        ]

    def _square(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        height, width = image.shape[:2]
        scale = self.size / max(height, width)
        if scale != 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
        square = np.full((self.size, self.size, 3), 127, dtype=np.uint8)
        square[: image.shape[0], : image.shape[1]] = image
        return square, scale
