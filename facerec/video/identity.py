"""The bound that splits a track: a face that scores under it against its track is someone else.

The bound is measured, not chosen: a low quantile of the cosines of two photos of one person
(``scripts/calibrate_track_identity.py``), recorded beside the model's other calibration data
(``facerec/models/embedders/calibration/<model>-<tag>.track.json``, tied to the weights' sha256). Weights
without such a record (a user's own model) fall back to their calibrated 1:1 verification threshold: stricter,
so a track may split more often, never mix people more.

>>> track_bound(recognizer.weights)  # doctest: +SKIP
TrackBound(bound=0.21, source='mobilefacenet-foamliu.track.json (0.5% of 12,345 same-person pairs)')
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facerec.models.weights import Weights

__all__ = ["TrackBound", "track_bound"]

CALIBRATION_DIR = Path(__file__).resolve().parents[1] / "models" / "embedders" / "calibration"


@dataclass(frozen=True)
class TrackBound:
    """The cosine under which a face is not its track's person, and where it comes from."""

    bound: float
    source: str


def track_bound(weights: Weights) -> TrackBound:
    """The track-splitting bound of ``weights`` (see the module's docstring)."""
    return _bound(weights.model, weights.tag, weights.sha256, weights.threshold)


@functools.lru_cache(maxsize=None)
def _bound(model: str, tag: str, sha256: str | None, verify_threshold: float) -> TrackBound:
    path = CALIBRATION_DIR / f"{model}-{tag}.track.json"
    if sha256 is not None and path.is_file():
        record = json.loads(path.read_text())
        if record.get("weights_sha256") == sha256:
            return TrackBound(float(record["bound"]), f"{path.name} ({record['quantile']:.1%} of "
                                                      f"{record['pairs']:,} same-person pairs)")
    return TrackBound(float(verify_threshold), "the weights' 1:1 verification threshold (no track calibration)")
