"""The one path from images to aligned face crops: decode, detect, choose, align (or fall back).

:func:`locate_faces` is that path: ``verify``, ``embed``, ``identify``, enrollment (one photo or a folder),
the service, Ray bulk enrollment, training data, evaluation and the robustness crops all go through it,
:func:`align_images` being its one-face-per-image batch form.
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

__all__ = ["AlignedBatch", "Fallback", "Located", "align_images", "in_original_frame", "locate_faces"]

#: What an image without a detected face gets: an error (``None``), the template in the central half
#: (``"center"``, as evaluation scores such pairs) or the whole image resized (``"whole"``, for tight crops).
Fallback = Literal["center", "whole"] | None


@dataclass(frozen=True)
class Located:
    """The faces of one image that :func:`locate_faces` chose, aligned: ``faces[i]`` (in the image's own pixel
    coordinates) is cropped as ``crops[i]`` (uint8 ``S x S x 3``); ``work_faces`` are the same faces in the
    pixels detection worked on (a large photo downscaled). ``found`` counts every face the detector saw;
    ``detected`` is False where a fallback crop stands in. With ``collect_errors``, ``error`` says why the image
    has no crop (``faces`` is then empty)."""

    faces: list[Face]
    work_faces: list[Face]
    crops: np.ndarray
    found: int
    detected: bool
    pixels_sha256: str | None
    error: str | None = None


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


def locate_faces(
    images: Sequence[ImageInput],
    *,
    detector: Detector | None,
    alignment: Alignment,
    names: Sequence[str] | None = None,
    select: Selection = "largest",
    all_faces: bool = False,
    fallback: Fallback = None,
    require_single: bool = False,
    pad: float = 0.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    work_pixels: int = WORK_PIXELS,
    collect_errors: bool = False,
    pixels_digest: bool = False,
    found: Sequence[Sequence[Face]] | None = None,
) -> list[Located]:
    """The one path from images to aligned faces: decode (large photos downscaled while decoding), detect in
    one batch, choose, align. Every command, the gallery, the service and bulk enrollment go through it.

    ``names[i]`` names image ``i`` in its errors (an upload's file name; default: :func:`describe`). The face
    chosen by ``select`` is aligned, or every face (largest first) with ``all_faces``; ``detector=None`` skips
    detection (every image takes the fallback). Raises :class:`~facerec.errors.ImageReadError` for an
    unreadable image, :class:`NoFaceError` for an image without a face when ``fallback`` is None and
    :class:`MultipleFacesError` with ``require_single`` when one has several; with ``collect_errors`` these
    are recorded in ``error`` instead, and the other images go on. ``pad`` adds that fraction of the image
    size on every side (edge pixels repeated) before detection. ``pixels_digest`` records the sha256 of the
    pixels worked on (what enrollment keeps to skip a photo already enrolled); the other paths skip that work.
    ``found[i]``, where given, holds image ``i``'s faces already found (in its own pixels: a video's tracked
    faces, detected on a smaller copy of the frame and their landmarks refined): ``detector`` is not run, the
    image is not downscaled, and with ``all_faces`` the faces are aligned in the order given.
    """
    size = alignment.size
    named = list(names) if names is not None else [describe(image) for image in images]
    located: list[Located | None] = [None] * len(images)

    def fail(i: int, error: FaceRecError, digest: str | None = None) -> None:
        if not collect_errors:
            raise error
        located[i] = Located([], [], np.zeros((0, size, size, 3), np.uint8), 0, False, digest, str(error))

    pixels: dict[int, np.ndarray] = {}
    decoded: dict[int, DecodedImage] = {}
    digests: dict[int, str] = {}
    for i, image in enumerate(images):
        try:
            decoded[i] = decode_image(image, max_pixels=max_pixels,
                                      work_pixels=work_pixels if found is None else None)
        except FaceRecError as exc:
            fail(i, exc)
            continue
        if pixels_digest:
            digests[i] = hashlib.sha256(decoded[i].pixels.tobytes()).hexdigest()
        pixels[i] = _pad(decoded[i].pixels, pad)
    rows = list(pixels)
    if found is not None:
        detected = [list(found[i]) for i in rows]
    else:
        detected = detector.detect([pixels[i] for i in rows]) if detector is not None else [[] for _ in rows]
    for i, candidates in zip(rows, detected):
        image = pixels[i]
        if require_single and len(candidates) > 1:
            fail(i, MultipleFacesError(named[i], len(candidates)), digests.get(i))
            continue
        if candidates:
            chosen = list(candidates) if all_faces else [select_face(candidates, image.shape, select)]
            crops = align_faces(image, chosen, alignment)
        elif fallback is None:
            fail(i, NoFaceError(named[i]), digests.get(i))
            continue
        elif fallback == "whole":
            chosen = [Face((0.0, 0.0, float(image.shape[1]), float(image.shape[0])), 0.0, (), "fallback")]
            crops = _whole(image, size, pad)[None]
        else:
            chosen = [fallback_face(image.shape, np.asarray(alignment.template), size)]
            crops = align_faces(image, chosen, alignment)
        if pad > 0:
            chosen = [face.shifted(-_offset(image, pad, 1), -_offset(image, pad, 0)) for face in chosen]
        located[i] = Located([in_original_frame(face, decoded[i]) for face in chosen], chosen, crops,
                             len(candidates), bool(candidates), digests.get(i))
    return [entry for entry in located if entry is not None]


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
    names: Sequence[str] | None = None,
) -> AlignedBatch:
    """One aligned crop per image, as a batch: :func:`locate_faces` with one face each (the fallback by
    default: a central crop where no face is found)."""
    located = locate_faces(images, detector=detector, alignment=alignment, names=names, select=select,
                           fallback=fallback, require_single=require_single, pad=pad, max_pixels=max_pixels,
                           work_pixels=work_pixels, collect_errors=collect_errors, pixels_digest=True)
    size = alignment.size
    crops = np.zeros((len(images), size, size, 3), dtype=np.uint8)
    for i, entry in enumerate(located):
        if len(entry.crops):
            crops[i] = entry.crops[0]
    return AlignedBatch(crops, np.array([entry.detected for entry in located], bool),
                        [entry.faces[0] if entry.faces else None for entry in located],
                        [entry.pixels_sha256 for entry in located], [entry.error for entry in located])


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
