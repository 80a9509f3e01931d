"""Detected faces and how one is chosen: :class:`Face`, :func:`select_face`, :func:`fallback_face`.

Every detector (see :mod:`facerec.models.detectors`) returns faces as :class:`Face`: a box, a
confidence score and 5 landmarks (left eye, right eye, nose, left mouth corner, right mouth
corner, as seen in the image, in image pixels), plus the name of the stage that found it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

__all__ = ["Face", "Selection", "select_face", "fallback_face", "face_from_template"]

Selection = Literal["largest", "center"]


@dataclass(frozen=True)
class Face:
    """One detected face, in the pixel coordinates of its image; ``detector`` names who found it."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    landmarks: tuple[tuple[float, float], ...]  # 5 (x, y) points
    detector: str = ""

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)

    def to_dict(self) -> dict[str, object]:
        return {
            "box": [_tenth(v) for v in self.box],
            "score": round(self.score, 4),
            "landmarks": [[_tenth(x), _tenth(y)] for x, y in self.landmarks],
            "detector": self.detector,
        }

    def shifted(self, dx: float, dy: float) -> Face:
        """The same face with its coordinates moved by ``(dx, dy)``."""
        x1, y1, x2, y2 = self.box
        return Face((x1 + dx, y1 + dy, x2 + dx, y2 + dy), self.score,
                    tuple((x + dx, y + dy) for x, y in self.landmarks), self.detector)

    def scaled(self, factor: float) -> Face:
        """The same face with its coordinates multiplied by ``factor``."""
        return Face(tuple(v * factor for v in self.box), self.score,  # type: ignore[arg-type]
                    tuple((x * factor, y * factor) for x, y in self.landmarks), self.detector)

    def named(self, detector: str) -> Face:
        """The same face, credited to ``detector``."""
        return Face(self.box, self.score, self.landmarks, detector)


def select_face(faces: Sequence[Face], image_shape: tuple[int, ...], how: Selection = "largest") -> Face:
    """Pick one face: the largest, or the one nearest the image centre among the big ones.

    ``center`` suits datasets such as LFW whose photos are centred on their subject;
    faces smaller than a quarter of the largest are ignored so background faces lose.
    """
    if not faces:
        raise ValueError("select_face needs at least one face")
    if how == "largest":
        return max(faces, key=lambda f: f.area)
    height, width = image_shape[:2]
    biggest = max(f.area for f in faces)

    def distance(face: Face) -> float:
        x1, y1, x2, y2 = face.box
        return ((x1 + x2) / 2 - width / 2) ** 2 + ((y1 + y2) / 2 - height / 2) ** 2

    return min((f for f in faces if f.area >= biggest / 4), key=distance)


def face_from_template(box: tuple[float, float, float, float], template: np.ndarray, template_size: int,
                       *, detector: str) -> Face:
    """A face whose landmarks are the alignment template stretched over ``box`` (score 0)."""
    x0, y0, x1, y1 = box
    points = np.asarray(template, dtype=np.float64) * ((x1 - x0) / template_size, (y1 - y0) / template_size)
    points += (x0, y0)
    return Face(box=box, score=0.0, landmarks=tuple((float(x), float(y)) for x, y in points), detector=detector)


def fallback_face(image_shape: tuple[int, ...], template: np.ndarray, template_size: int) -> Face:
    """A stand-in face for when detection fails: the template placed in the central half.

    Used only by evaluation, so that a pair is scored rather than dropped.
    """
    height, width = image_shape[:2]
    side = min(height, width) / 2
    x0, y0 = (width - side) / 2, (height - side) / 2
    return face_from_template((x0, y0, x0 + side, y0 + side), template, template_size, detector="fallback")


def _tenth(value: float) -> float:
    """``value`` to 0.1 pixel, never ``-0.0`` (a box edge just outside the photo reads 0, not -0)."""
    return round(float(value), 1) + 0.0
