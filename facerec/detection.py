"""Face detection with MTCNN (facenet-pytorch; its weights ship inside the wheel).

Each face comes back as a :class:`Face`: a box, a confidence score and 5 landmarks
(left eye, right eye, nose, left mouth corner, right mouth corner, in image pixels).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps

__all__ = ["Face", "FaceDetector", "Selection", "select_face", "fallback_face"]

Selection = Literal["largest", "center"]


@dataclass(frozen=True)
class Face:
    """One detected face, in the pixel coordinates of its image."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    landmarks: tuple[tuple[float, float], ...]  # 5 (x, y) points

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)

    def to_dict(self) -> dict[str, object]:
        return {
            "box": [round(v, 1) for v in self.box],
            "score": round(self.score, 4),
            "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks],
        }

    def shifted(self, dx: float, dy: float) -> Face:
        """The same face with its coordinates moved by ``(dx, dy)``."""
        x1, y1, x2, y2 = self.box
        return Face((x1 + dx, y1 + dy, x2 + dx, y2 + dy), self.score,
                    tuple((x + dx, y + dy) for x, y in self.landmarks))


class FaceDetector:
    """MTCNN over one image or many; same-sized images are run as one batch.

    ``max_side`` shrinks large photos before detection (faces are still found,
    coordinates are mapped back), which bounds the cost of the image pyramid.

    With ``retry`` (the default), a photo in which no face is found, or whose largest face
    lies mostly outside the frame, is tried once more with a black border around it and its
    histogram equalised. MTCNN misses faces that fill the whole frame (tight crops such as
    Extended Yale B) or are lit from one side, and on such crops it boxes the wrong scale.
    Only the detection sees that copy; landmarks are mapped back to the original.

    >>> detector = FaceDetector()
    >>> faces = detector.detect([np.zeros((64, 64, 3), np.uint8)])
    >>> faces
    [[]]
    """

    def __init__(
        self,
        *,
        min_face_size: int = 40,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        min_score: float = 0.9,
        max_side: int = 800,
        retry: bool = True,
    ) -> None:
        from facenet_pytorch import MTCNN

        self.mtcnn = MTCNN(
            min_face_size=min_face_size, thresholds=list(thresholds), keep_all=True, device="cpu"
        )
        self.min_score = min_score
        self.max_side = max_side
        self.retry = retry
        self.settings = {"min_face_size": min_face_size, "thresholds": list(thresholds), "min_score": min_score,
                         "max_side": max_side, "retry": retry, "version": 2}

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """Detect faces in RGB uint8 images; one list of faces (largest first) per image."""
        results = self._detect(images)
        doubtful = [i for i, faces in enumerate(results) if not faces or _mostly_outside(faces[0], images[i].shape)]
        if self.retry and doubtful:
            border = [_border(images[i].shape) for i in doubtful]
            padded = [_retry_copy(images[i], pad) for i, pad in zip(doubtful, border)]
            for i, pad, faces in zip(doubtful, border, self._detect(padded)):
                height, width = images[i].shape[:2]
                moved = [face.shifted(-pad, -pad) for face in faces]
                inside = [f for f in moved if 0 <= (f.box[0] + f.box[2]) / 2 < width
                          and 0 <= (f.box[1] + f.box[3]) / 2 < height]
                results[i] = inside or results[i]
        return results

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        results: list[list[Face]] = [[] for _ in images]
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        scaled: list[np.ndarray] = []
        scales: list[float] = []
        for i, image in enumerate(images):
            small, scale = _shrink(image, self.max_side)
            scaled.append(small)
            scales.append(scale)
            groups[small.shape].append(i)
        for indices in groups.values():
            batch = np.stack([scaled[i] for i in indices])
            with torch.inference_mode():
                boxes, probs, points = self.mtcnn.detect(batch, landmarks=True)
            for row, i in enumerate(indices):
                results[i] = self._faces(boxes[row], probs[row], points[row], scales[i])
        return results

    def _faces(self, boxes, probs, points, scale: float) -> list[Face]:
        if boxes is None:
            return []
        faces = [
            Face(
                box=tuple(float(v) / scale for v in box),
                score=float(prob),
                landmarks=tuple((float(x) / scale, float(y) / scale) for x, y in pts),
            )
            for box, prob, pts in zip(boxes, probs, points)
            if prob is not None and prob >= self.min_score
        ]
        return sorted(faces, key=lambda f: f.area, reverse=True)


def _mostly_outside(face: Face, shape: tuple[int, ...]) -> bool:
    """True when less than half of the face's box lies inside the image."""
    x1, y1, x2, y2 = face.box
    height, width = shape[:2]
    inside = max(0.0, min(x2, width) - max(x1, 0)) * max(0.0, min(y2, height) - max(y1, 0))
    return inside < 0.5 * face.area


def _border(shape: tuple[int, ...]) -> int:
    return max(shape[:2]) // 2


def _retry_copy(image: np.ndarray, pad: int) -> np.ndarray:
    equalised = np.asarray(ImageOps.equalize(Image.fromarray(image)))
    return np.pad(equalised, ((pad, pad), (pad, pad), (0, 0)))


def _shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    height, width = image.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return image, 1.0
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
    return small, scale


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


def fallback_face(image_shape: tuple[int, ...], template: np.ndarray, template_size: int) -> Face:
    """A stand-in face for when detection fails: the template placed in the central half.

    Used only by evaluation, so that a pair is scored rather than dropped.
    """
    height, width = image_shape[:2]
    side = min(height, width) / 2
    x0, y0 = (width - side) / 2, (height - side) / 2
    points = np.asarray(template, dtype=np.float64) * (side / template_size) + (x0, y0)
    return Face(
        box=(x0, y0, x0 + side, y0 + side),
        score=0.0,
        landmarks=tuple((float(x), float(y)) for x, y in points),
    )
