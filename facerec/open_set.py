"""A gallery's own open-set threshold, from the impostor scores among the people it holds.

The model's size-aware threshold (:meth:`Weights.open_set_threshold`) is calibrated on LFW. On a
uniform photo set (one studio, one camera, one lighting rig) strangers score higher against
everybody, and that threshold lets too many through. The gallery holds its own evidence: each
enrolled face, searched against everyone else, is a stranger to them. Its best score against the
other people (a maximum over N - 1 impostors) follows a Gumbel law, whose ``1 - fpir`` quantile is
the threshold that lets a fraction ``fpir`` of strangers through. The gallery's threshold is the
stricter of that quantile and the model's, once it holds :data:`MIN_PEOPLE` people; below that
the model's threshold is used alone.

>>> round(gumbel_quantile(np.array([0.20, 0.22, 0.25, 0.21, 0.30, 0.24, 0.23, 0.26, 0.22, 0.27]), 0.99), 3)
0.351
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["FPIR", "MIN_PEOPLE", "MAX_PROBES", "OpenSetCalibration", "gumbel_quantile", "calibrate"]

FPIR = 0.01  # the default promise: at most 1% of strangers identified as someone
MIN_PEOPLE = 10  # fewer people than this: too few maxima to fit a tail, the model's threshold alone
MAX_PROBES = 2000  # faces searched against the rest; a larger gallery is sampled (seeded)

# Gumbel quantile function: mu - beta * ln(-ln q). Fitted from the median and the inter-quartile range,
# so a few true duplicates (one person under two names) in the gallery do not drag the tail up.
_LOGLOG = {q: -math.log(-math.log(q)) for q in (0.25, 0.5, 0.75)}


@dataclass(frozen=True)
class OpenSetCalibration:
    """The threshold in use and how it was chosen (stored in the gallery, shown by ``index stats``)."""

    threshold: float
    source: str  # "gallery" (its own impostors were stricter) or "model" (the model's calibrated tail)
    model_threshold: float
    gallery_threshold: float | None  # None below MIN_PEOPLE
    people: int
    probes: int  # enrolled faces searched against the others
    fpir: float
    revision: int
    #: "cosine", or "as-norm" (thresholds on cohort-normalised scores, see facerec.cohort)
    score: str = "cosine"
    cohort: str | None = None  # the cohort's key, with "as-norm"
    low_quality_threshold: float | None = None  # with "as-norm": the threshold a low-quality probe is held to
    cosine_threshold: float | None = None  # with "as-norm": the cosine calibration (duplicate checks use it)
    homogeneity: float | None = None  # with "as-norm": how alike the gallery's people are (facerec.cohort.homogeneity)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpenSetCalibration:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})  # missing: the default


def gumbel_quantile(maxima: np.ndarray, q: float) -> float:
    """The ``q`` quantile of a Gumbel law fitted to ``maxima`` by its median and quartiles."""
    low, median, high = np.quantile(np.asarray(maxima, np.float64), [0.25, 0.5, 0.75])
    beta = max((high - low) / (_LOGLOG[0.75] - _LOGLOG[0.25]), 1e-6)
    mu = median - beta * _LOGLOG[0.5]
    return float(mu - beta * math.log(-math.log(q)))


def calibrate(model_threshold: float, maxima: np.ndarray, *, people: int, fpir: float,
              revision: int) -> OpenSetCalibration:
    """Combine the model's threshold with the gallery's: ``maxima`` holds, for each probed enrolled
    face, its best score against the other people. On normalised scores the "model's" threshold is the
    cohort's (:meth:`facerec.cohort.Cohort.threshold`), and the result is completed with ``dataclasses.replace``."""
    maxima = np.asarray(maxima, np.float64)
    maxima = maxima[np.isfinite(maxima)]
    gallery = gumbel_quantile(maxima, 1.0 - fpir) if people >= MIN_PEOPLE and len(maxima) >= MIN_PEOPLE else None
    model_threshold = round(float(model_threshold), 6)  # as stored, so a stored calibration reads back the same
    gallery = round(gallery, 6) if gallery is not None else None
    stricter = gallery is not None and gallery > model_threshold
    return OpenSetCalibration(
        threshold=gallery if gallery is not None and stricter else model_threshold,
        source="gallery" if stricter else "model", model_threshold=model_threshold, gallery_threshold=gallery,
        people=people, probes=len(maxima), fpir=fpir, revision=revision)
