"""Face alignment: a similarity transform from 5 landmarks onto a model's template,
or the plain box crop that facenet-pytorch models were trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
from PIL import Image

from facerec.detection import Face

__all__ = ["ARCFACE_TEMPLATE_112", "Alignment", "estimate_similarity", "align_faces"]

#: The ArcFace / InsightFace 5-point template for 112x112 crops.
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


@dataclass(frozen=True)
class Alignment:
    """How a model wants its faces cropped."""

    size: int
    method: Literal["landmarks", "box"] = "landmarks"
    template: tuple[tuple[float, float], ...] = tuple(map(tuple, ARCFACE_TEMPLATE_112.tolist()))
    margin: float = 0.0  # pixels of the output size added around the box, for method="box"


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama 1991) mapping ``src`` onto ``dst``.

    Returns the 2x3 matrix ``M`` with ``dst ~= M @ [x, y, 1]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    variance = (src_c**2).sum() / len(src)
    scale = np.trace(np.diag(singular) @ sign) / variance if variance > 0 else 1.0
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def align_faces(image: np.ndarray, faces: Sequence[Face], alignment: Alignment) -> np.ndarray:
    """Crop each face of ``image`` as ``alignment`` says; returns ``N x S x S x 3`` uint8."""
    size = alignment.size
    out = np.empty((len(faces), size, size, 3), dtype=np.uint8)
    pil = Image.fromarray(image)
    template = np.asarray(alignment.template, dtype=np.float64)
    for i, face in enumerate(faces):
        if alignment.method == "landmarks":
            matrix = estimate_similarity(np.asarray(face.landmarks), template)
            inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
            crop = pil.transform((size, size), Image.Transform.AFFINE, inverse.ravel().tolist(),
                                 Image.Resampling.BILINEAR)
        else:
            crop = pil.crop(_box_with_margin(face.box, alignment.margin, size)).resize(
                (size, size), Image.Resampling.BILINEAR
            )
        out[i] = np.asarray(crop)
    return out


def _box_with_margin(box: tuple[float, ...], margin: float, size: int) -> tuple[int, int, int, int]:
    # Same convention as facenet-pytorch's extract_face: margin is in output pixels.
    x1, y1, x2, y2 = box
    pad_x = margin * (x2 - x1) / (size - margin)
    pad_y = margin * (y2 - y1) / (size - margin)
    return (int(x1 - pad_x / 2), int(y1 - pad_y / 2), int(x2 + pad_x / 2), int(y2 + pad_y / 2))
