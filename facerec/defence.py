"""The defences a pipeline can put in front of its embedder: transforms of the aligned uint8 crops.

``--robust`` re-encodes each aligned crop as JPEG (Guo et al. 2018), which wipes out much of a small
adversarial perturbation at a small cost in accuracy (see the README). It runs on Pillow and numpy, so the
core install has it. The attack experiments that measure it, and the random resize-and-pad defence, need
gradients: they live in :mod:`facerec.robustness.defence` (the ``robustness`` extra), whose ``JpegDefence``
gives the same crops as :class:`JpegReencoding`.

>>> crops = np.zeros((2, 112, 112, 3), np.uint8)
>>> crop_defence("jpeg")(crops).shape
(2, 112, 112, 3)
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from facerec.errors import FaceRecError

__all__ = ["CropDefence", "DefenceError", "JPEG_QUALITY", "JpegReencoding", "crop_defence", "jpeg_reencode"]

#: A transform of aligned uint8 crops (``N x S x S x 3``) into crops of the same shape.
CropDefence = Callable[[np.ndarray], np.ndarray]

#: The JPEG quality of ``--robust``.
JPEG_QUALITY = 75


class DefenceError(FaceRecError, ValueError):
    """A defence was asked for by a name it does not have, or given crops it cannot work with."""


def jpeg_reencode(crops: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    """Each uint8 ``N x S x S x 3`` crop encoded as JPEG at ``quality`` (1-95) and decoded again; deterministic."""
    crops = np.asarray(crops)
    if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[-1] != 3:
        raise DefenceError(f"crops must be uint8 N x S x S x 3, got {crops.dtype} {crops.shape}")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 95:
        raise DefenceError(f"JPEG quality must be an integer in [1, 95], got {quality!r}")
    out = np.empty_like(crops)
    for i, crop in enumerate(crops):
        buffer = io.BytesIO()
        Image.fromarray(crop).save(buffer, format="JPEG", quality=quality)
        out[i] = np.asarray(Image.open(buffer).convert("RGB"))
    return out


@dataclass(frozen=True)
class JpegReencoding:
    """``--robust``'s defence as a value (picklable, for worker processes): :func:`jpeg_reencode` at ``quality``."""

    quality: int = JPEG_QUALITY

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        return jpeg_reencode(crops, self.quality)


def crop_defence(name: str) -> CropDefence:
    """The crop transform of the defence ``name``: ``jpeg`` (Pillow; ``--robust``) or ``resize`` (the random
    resize-and-pad of :mod:`facerec.robustness.defence`, which needs the ``robustness`` extra)."""
    if name == "jpeg":
        return JpegReencoding()
    if name == "resize":
        from facerec.extras import import_extra

        defences = import_extra("facerec.robustness.defence", "the resize defence")
        return defences.ResizePadDefence().transform_crops  # type: ignore[no-any-return]
    raise DefenceError(f"unknown defence {name!r}; known: jpeg, resize")
