"""A detection cascade: a fast detector first, then second looks at the photos where it found nothing.

Each step is a detector and an image correction (see :func:`~facerec.models.detectors.base.enhanced_copy`).
Step one sees the photo as it is; a later step runs only on the photos where no face has been found yet, or
where the best face lies mostly outside the frame (a mis-scaled box), on a corrected copy with a black
border. Faces found on a copy are mapped back to the original photo's pixels and credited to the step
(``face.detector``, e.g. ``retinaface+equalize``), which ``--json`` output shows.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from facerec.detection import Face
from facerec.models.detectors.base import Detector, border, enhanced_copy, mostly_outside

__all__ = ["Cascade", "Step"]

Step = tuple[Detector, str]  # a detector and the correction of its copy: "original", "equalize", "gamma", "pad"


class Cascade(Detector):
    """Run ``steps`` in order; each later step only where the earlier ones found no usable face.

    >>> from facerec.models.detectors import get_detector  # doctest: +SKIP
    >>> get_detector("yunet,retinaface").name  # doctest: +SKIP
    'yunet,retinaface'
    """

    def __init__(self, steps: Sequence[Step], *, name: str) -> None:
        if not steps:
            raise ValueError("a cascade needs at least one step")
        self.steps = list(steps)
        self.name = name

    @property
    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "steps": [[d.settings, how] for d, how in self.steps], "version": 1}

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        results: list[list[Face]] = [[] for _ in images]
        todo = list(range(len(images)))
        for detector, how in self.steps:
            if not todo:
                break
            if how == "original":
                found = detector.detect([images[i] for i in todo])
                for i, faces in zip(todo, found):
                    results[i] = faces
            else:
                pads = [border(images[i].shape) for i in todo]
                copies = [enhanced_copy(images[i], "none" if how == "pad" else how, pad)
                          for i, pad in zip(todo, pads)]
                for i, pad, faces in zip(todo, pads, detector.detect(copies)):
                    inside = _inside([f.shifted(-pad, -pad).named(f"{f.detector}+{how}") for f in faces],
                                     images[i].shape)
                    results[i] = inside or results[i]
            todo = [i for i in todo if not results[i] or mostly_outside(results[i][0], images[i].shape)]
        return results


def _inside(faces: list[Face], shape: tuple[int, ...]) -> list[Face]:
    """Faces whose centre lies inside the original image (not in the added border)."""
    height, width = shape[:2]
    return [f for f in faces
            if 0 <= (f.box[0] + f.box[2]) / 2 < width and 0 <= (f.box[1] + f.box[3]) / 2 < height]
