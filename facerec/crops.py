"""The one path from images to aligned face crops: load, detect, select, align (or fall back).

:meth:`FaceRecognizer.align <facerec.recognizer.FaceRecognizer.align>`, the gallery, training data,
evaluation and the robustness crops all go through :func:`align_images`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
from PIL import Image

from facerec.alignment import Alignment, align_faces
from facerec.detection import Face, Selection, fallback_face, select_face
from facerec.errors import FaceRecError, MultipleFacesError, NoFaceError
from facerec.io import DEFAULT_MAX_PIXELS, WORK_PIXELS, DecodedImage, ImageInput, decode_image, describe
from facerec.models.detectors.base import Detector

__all__ = ["AlignedBatch", "Fallback", "align_images", "in_original_frame"]

#: What an image without a detected face gets: an error (``None``), the template in the central half
#: (``"center"``, as evaluation scores such pairs) or the whole image resized (``"whole"``, for tight crops).
Fallback = Literal["center", "whole"] | None


@dataclass(frozen=True)
class AlignedBatch:
    """``crops[i]`` (uint8 ``S x S x 3``) is the face ``faces[i]`` of image ``i``; ``detected[i]`` is False
    where a fallback crop was used. With ``collect_errors``, ``errors[i]`` says why image ``i`` has no crop
    (its crop is then black and ``faces[i]`` None)."""

    crops: np.ndarray
    detected: np.ndarray
    faces: list[Face | None]
    pixels_sha256: list[str | None]
    errors: list[str | None]


def align_images(
    images: Sequence[ImageInput],
    *,
    detector: Detector | None,
    alignment: Alignment,
    select: Selection = "largest",
    fallback: Fallback = "center",
    require_single: bool = False,
    pad: float = 0.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    work_pixels: int = WORK_PIXELS,
    collect_errors: bool = False,
) -> AlignedBatch:
    """Aligned crops of ``images``; ``detector=None`` skips detection (every image takes the fallback).

    ``pad`` adds that fraction of the image size on every side (edge pixels repeated) before
    detection. Raises :class:`~facerec.errors.ImageReadError` for an unreadable image,
    :class:`NoFaceError` for an image without a face when ``fallback`` is None and
    :class:`MultipleFacesError` with ``require_single`` when one has several; with ``collect_errors``
    these are recorded in ``errors`` instead, and the other images go on.

    Images over ``work_pixels`` are detected and aligned downscaled (see :func:`facerec.io.decode_image`);
    ``faces`` are in each image's own pixel coordinates all the same, and ``pixels_sha256`` digests the
    pixels worked on.
    """
    size = alignment.size
    count = len(images)
    crops = np.zeros((count, size, size, 3), dtype=np.uint8)
    detected = np.zeros(count, dtype=bool)
    faces: list[Face | None] = [None] * count
    digests: list[str | None] = [None] * count
    errors: list[str | None] = [None] * count

    def fail(i: int, error: FaceRecError) -> None:
        if not collect_errors:
            raise error
        errors[i] = str(error)

    pixels: dict[int, np.ndarray] = {}
    decoded: dict[int, DecodedImage] = {}
    for i, image in enumerate(images):
        try:
            decoded[i] = decode_image(image, max_pixels=max_pixels, work_pixels=work_pixels)
        except FaceRecError as exc:
            fail(i, exc)
            continue
        digests[i] = hashlib.sha256(decoded[i].pixels.tobytes()).hexdigest()
        pixels[i] = _pad(decoded[i].pixels, pad)
    rows = list(pixels)
    found = detector.detect([pixels[i] for i in rows]) if detector is not None else [[] for _ in rows]
    for i, candidates in zip(rows, found):
        image = pixels[i]
        if require_single and len(candidates) > 1:
            fail(i, MultipleFacesError(describe(images[i]), len(candidates)))
            continue
        if candidates:
            face = select_face(candidates, image.shape, select)
            detected[i] = True
            crops[i] = align_faces(image, [face], alignment)[0]
        elif fallback is None:
            fail(i, NoFaceError(describe(images[i])))
            continue
        elif fallback == "whole":
            face = Face((0.0, 0.0, float(image.shape[1]), float(image.shape[0])), 0.0, (), "fallback")
            crops[i] = _whole(image, size, pad)
        else:
            face = fallback_face(image.shape, np.asarray(alignment.template), size)
            crops[i] = align_faces(image, [face], alignment)[0]
        face = face.shifted(-_offset(image, pad, 1), -_offset(image, pad, 0)) if pad > 0 else face
        faces[i] = in_original_frame(face, decoded[i])
    return AlignedBatch(crops, detected, faces, digests, errors)


def in_original_frame(face: Face, decoded: DecodedImage) -> Face:
    """``face``, found in ``decoded.pixels``, in the coordinates of the original image."""
    return face if decoded.scale == 1.0 else face.scaled(decoded.scale)


def _offset(padded: np.ndarray, pad: float, axis: int) -> int:
    return int(round(pad * padded.shape[axis] / (1 + 2 * pad)))


def _pad(pixels: np.ndarray, pad: float) -> np.ndarray:
    if pad <= 0:
        return pixels
    height, width = pixels.shape[:2]
    dy, dx = int(round(pad * height)), int(round(pad * width))
    return np.pad(pixels, ((dy, dy), (dx, dx), (0, 0)), mode="edge")


def _whole(pixels: np.ndarray, size: int, pad: float) -> np.ndarray:
    height, width = pixels.shape[:2]
    dy, dx = _offset(pixels, pad, 0), _offset(pixels, pad, 1)
    original = pixels[dy : height - dy, dx : width - dx]
    return np.asarray(Image.fromarray(original).resize((size, size), Image.Resampling.BILINEAR))
