"""For inputs that are face crops already (ID photos, crops from another system): no detection."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from facerec.alignment import Alignment
from facerec.detection import Face, face_from_template
from facerec.models.detectors.base import Detector

__all__ = ["FaceCropDetector"]


class FaceCropDetector(Detector):
    """Every image is one face: the model's landmark template stretched over the whole image.

    Used by ``--face-crop`` / ``FaceRecognizer(detect=False)``; never a silent fallback.
    """

    name = "face-crop"

    def __init__(self, alignment: Alignment) -> None:
        self.alignment = alignment

    @property
    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "alignment": repr(self.alignment), "version": 1}

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        return self._detect(images)

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        template = np.asarray(self.alignment.template)
        return [[face_from_template((0.0, 0.0, float(image.shape[1]), float(image.shape[0])), template,
                                    self.alignment.size, detector=self.name)] for image in images]
