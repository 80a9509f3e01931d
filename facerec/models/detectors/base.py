"""What every face detector shares: the :class:`Detector` interface and image helpers.

A detector takes RGB uint8 images (``H x W x 3``) and returns, for each, its faces largest first,
in the pixel coordinates of that image. Images too small to hold a face give an empty list, never
an error, whatever the detector's network would make of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any, Iterable, Protocol, Sequence

import numpy as np
from PIL import Image, ImageOps

from facerec.detection import Face

__all__ = ["Detector", "MIN_SIDE", "shrink", "group_by_shape", "keep_faces", "nms", "border", "enhanced_copy",
           "mostly_outside"]

#: Images with a side shorter than this hold no detectable face (every detector's smallest face is larger).
MIN_SIDE = 16


class Detector(ABC):
    """Faces in images. ``name`` identifies it; ``settings`` (JSON-able) keys every cache of its output."""

    name: str = ""
    _settings: dict[str, Any]  # set by each detector's __init__, unless it overrides ``settings``

    @property
    def settings(self) -> dict[str, Any]:
        """Everything that changes the output, plus a version number; caches key on it."""
        return dict(self._settings)

    @abstractmethod
    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """Faces of images that are large enough (see :data:`MIN_SIDE`)."""

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """One list of faces (largest first) per RGB uint8 image; ``[]`` where there is none."""
        for image in images:
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"expected H x W x 3 uint8 RGB images, got {image.dtype} of shape {image.shape}")
        results: list[list[Face]] = [[] for _ in images]
        usable = [i for i, image in enumerate(images) if min(image.shape[:2]) >= MIN_SIDE]
        if usable:
            for i, faces in zip(usable, self._detect([images[i] for i in usable])):
                results[i] = sorted(faces, key=lambda f: f.area, reverse=True)
        return results


def shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """``image`` resized so its longest side is at most ``max_side``, and the scale used."""
    height, width = image.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return image, 1.0
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR)), scale


def group_by_shape(images: Iterable[np.ndarray]) -> list[list[int]]:
    """Indices of ``images`` grouped by shape, so that each group runs as one batch."""
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, image in enumerate(images):
        groups[image.shape].append(i)
    return list(groups.values())


def keep_faces(boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray, *, min_score: float, nms_iou: float,
               scale: float, name: str) -> list[Face]:
    """Faces above ``min_score`` after non-maximum suppression, coordinates divided by ``scale``."""
    keep = scores >= min_score
    boxes, scores, landmarks = boxes[keep], scores[keep], landmarks[keep]
    if len(boxes) == 0:
        return []
    order = nms(boxes, scores, nms_iou)
    return [
        Face(box=tuple(float(v) / scale for v in boxes[i]),  # type: ignore[arg-type]
             score=float(scores[i]),
             landmarks=tuple((float(x) / scale, float(y) / scale) for x, y in landmarks[i].reshape(5, 2)),
             detector=name)
        for i in order
    ]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, highest score first.

    As ``torchvision.ops.nms`` (which it replaces, so that detection needs no torch): boxes are
    ``x1, y1, x2, y2`` (``N x 4``), a box is dropped when its IoU with a kept, higher-scoring one
    exceeds ``iou_threshold``.

    >>> nms(np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]]), np.array([0.9, 0.8, 0.7]), 0.5)
    array([0, 2])
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        width = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]))
        height = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]))
        inter = width * height
        iou = inter / (areas[best] + areas[rest] - inter)
        order = rest[~(iou > iou_threshold)]  # a NaN IoU (two empty boxes) keeps the box, as torchvision does
    return np.array(keep, dtype=np.int64)


def mostly_outside(face: Face, shape: tuple[int, ...]) -> bool:
    """True when less than half of the face's box lies inside the image (a mis-scaled detection)."""
    x1, y1, x2, y2 = face.box
    height, width = shape[:2]
    inside = max(0.0, min(x2, width) - max(x1, 0)) * max(0.0, min(y2, height) - max(y1, 0))
    return inside < 0.5 * face.area


def border(shape: tuple[int, ...]) -> int:
    """The black border added around a tight crop: half its longest side."""
    return max(shape[:2]) // 2


def enhanced_copy(image: np.ndarray, how: str, pad: int) -> np.ndarray:
    """A copy for a second look: contrast/exposure corrected (``equalize`` or ``gamma``) and padded.

    ``equalize`` flattens the histogram (a face lit from one side gets its dark half back);
    ``gamma`` lifts dark tones (light from below); ``none`` only pads. The black border lets
    detectors find faces that fill the whole frame (tight crops such as ID photos).
    """
    if how == "equalize":
        image = np.asarray(ImageOps.equalize(Image.fromarray(image)))
    elif how == "gamma":
        lut = np.clip(255.0 * (np.arange(256) / 255.0) ** 0.45, 0, 255).astype(np.uint8)
        image = lut[image]
    elif how != "none":
        raise ValueError(f"unknown enhancement {how!r}")
    return np.pad(image, ((pad, pad), (pad, pad), (0, 0))) if pad else image


class DetectorSettings(Protocol):
    """What a detector builder reads from a pipeline's settings (:class:`facerec.config.PipelineConfig` has it
    all; :class:`DetectorOptions` is the same without the rest of a pipeline): the cascade, who places the
    landmarks, where it runs and the detector options."""

    @property
    def detectors(self) -> tuple[str, ...]: ...
    @property
    def landmarks(self) -> str: ...
    @property
    def backend(self) -> str: ...
    @property
    def threads(self) -> int | None: ...
    @property
    def detector(self) -> str: ...
    def detector_options(self, *names: str) -> dict[str, Any]: ...
    def with_(self, **changes: Any) -> DetectorSettings: ...


@dataclass(frozen=True)
class DetectorOptions:
    """A detector cascade's settings without a whole pipeline (``get_detector``); unset options are the
    detectors' own defaults."""

    detectors: tuple[str, ...]
    landmarks: str = "mtcnn"
    backend: str = "onnx"
    threads: int | None = None
    min_score: float | None = None
    nms_iou: float | None = None
    max_side: int | None = None

    @property
    def detector(self) -> str:
        return ",".join(self.detectors)

    def detector_options(self, *names: str) -> dict[str, Any]:
        """The options among ``names`` that are set (not None), as keyword arguments."""
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def with_(self, **changes: Any) -> DetectorOptions:
        return replace(self, **changes)
