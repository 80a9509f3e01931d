"""MTCNN (Zhang et al. 2016) through facenet-pytorch, whose weights ship inside its wheel."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from facerec.detection import Face
from facerec.models.detectors.base import Detector, group_by_shape, shrink

__all__ = ["MTCNNDetector"]


class MTCNNDetector(Detector):
    """MTCNN over one image or many; same-sized images run as one batch.

    ``max_side`` shrinks large photos before detection (coordinates are mapped back), which
    bounds the cost of the image pyramid. PyTorch only: facenet-pytorch's three small networks
    run a Python-driven pyramid that does not export to one ONNX graph.
    """

    name = "mtcnn"

    def __init__(self, *, min_face_size: int = 40, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
                 min_score: float = 0.9, max_side: int = 800) -> None:
        from facenet_pytorch import MTCNN

        self.mtcnn = MTCNN(min_face_size=min_face_size, thresholds=list(thresholds), keep_all=True, device="cpu")
        self.min_score, self.max_side = min_score, max_side
        self._settings = {"name": self.name, "min_face_size": min_face_size, "thresholds": list(thresholds),
                          "min_score": min_score, "max_side": max_side, "version": 3}

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        scaled = [shrink(image, self.max_side) for image in images]
        results: list[list[Face]] = [[] for _ in images]
        for indices in group_by_shape(small for small, _ in scaled):
            batch = np.stack([scaled[i][0] for i in indices])
            with torch.inference_mode():
                boxes, probs, points = self.mtcnn.detect(batch, landmarks=True)
            for row, i in enumerate(indices):
                results[i] = self._faces(boxes[row], probs[row], points[row], scaled[i][1])
        return results

    def _faces(self, boxes: Any, probs: Any, points: Any, scale: float) -> list[Face]:
        if boxes is None:
            return []
        return [
            Face(box=tuple(float(v) / scale for v in box),  # type: ignore[arg-type]
                 score=float(prob),
                 landmarks=tuple((float(x) / scale, float(y) / scale) for x, y in pts),
                 detector=self.name)
            for box, prob, pts in zip(boxes, probs, points)
            if prob is not None and prob >= self.min_score
        ]
