"""How usable a detected face is for recognition: size, pose, sharpness, exposure and detector confidence.

Each measure is mapped to a sub-score in ``[0, 1]`` by a ramp between a value where recognition is known
to fail and one where it is comfortable (eye distance in pixels as ISO/IEC 19794-5 counts it, yaw from
the 5 landmarks, the aligned crop's Laplacian energy and brightness). A face is as good as its weakest
measure: :attr:`FaceQuality.score` is the minimum, and a face scoring under :data:`LOW_QUALITY` is
*low quality*, with the measures that made it so in :attr:`FaceQuality.reasons`.

Enrolment refuses a low-quality photo (:class:`LowQualityError`) unless told otherwise, and
identification holds a low-quality probe to a stricter threshold (see :mod:`facerec.cohort`).

>>> ramp(15.0, 10.0, 20.0)
0.5
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from facerec.detection import Face
from facerec.errors import FaceRecError

__all__ = ["LOW_QUALITY", "FaceQuality", "LowQualityError", "assess", "assess_faces", "ramp", "refuse_low_quality"]

LOW_QUALITY = 0.5  # a weakest sub-score under this: low quality

# (bad, good) ends of each ramp; a value at "bad" scores 0, at "good" 1.
EYE_DISTANCE = (8.0, 16.0)  # pixels between the eye centres in the photo
YAW = (0.45, 0.25)  # |nose offset from the eyes' midpoint| / eye distance: about 45 and 25 degrees
SHARPNESS = (0.06, 0.14)  # Laplacian std / intensity std in the crop's central face region
DARKNESS = (0.75, 0.45)  # fraction of the central face region darker than 40 of 255
BRIGHTNESS = (0.75, 0.45)  # fraction brighter than 245 of 255 (blown out)
DETECTOR = (0.5, 0.75)  # the detector's confidence


class LowQualityError(FaceRecError):
    """A photo's face is too poor to enrol (pass ``allow_low_quality`` / ``--allow-low-quality`` to enrol it anyway)."""

    def __init__(self, source: str, quality: FaceQuality) -> None:
        self.source, self.quality = source, quality
        super().__init__(f"low-quality face in {source} (quality {quality.score:.2f} < {LOW_QUALITY}): "
                         f"{'; '.join(quality.reasons)}; use a better photo",
                         hint="--allow-low-quality to enroll it anyway")


@dataclass(frozen=True)
class FaceQuality:
    """A face's quality score (the weakest sub-score), its sub-scores and measures, and why it is low."""

    score: float
    parts: dict[str, float] = field(default_factory=dict)  # sub-scores in [0, 1]
    measures: dict[str, float] = field(default_factory=dict)  # the raw values
    reasons: list[str] = field(default_factory=list)

    @property
    def low(self) -> bool:
        return self.score < LOW_QUALITY

    def to_dict(self) -> dict[str, Any]:
        return {"score": round(self.score, 3), "low": self.low, "reasons": list(self.reasons),
                "parts": {k: round(v, 3) for k, v in self.parts.items()},
                "measures": {k: round(v, 3) for k, v in self.measures.items()}}


def ramp(value: float, bad: float, good: float) -> float:
    """``value`` mapped linearly from ``bad`` (0) to ``good`` (1), clipped; ``bad`` may be above ``good``."""
    return float(np.clip((value - bad) / (good - bad), 0.0, 1.0))


def assess(face: Face | None, crop: np.ndarray) -> FaceQuality:
    """The quality of ``face`` (None: a fallback crop) from its aligned ``crop`` (uint8 ``S x S [x 3]``)."""
    gray = np.asarray(crop, np.float32)
    if gray.ndim == 3:
        gray = gray.mean(axis=2)
    size = gray.shape[0]
    # the central face region of an ArcFace-aligned crop: eyes to chin, cheek to cheek
    centre = gray[int(size * 0.18) : int(size * 0.9), int(size * 0.21) : int(size * 0.79)]
    laplacian = (4 * centre[1:-1, 1:-1] - centre[:-2, 1:-1] - centre[2:, 1:-1] - centre[1:-1, :-2] - centre[1:-1, 2:])
    measures = {"sharpness": float(laplacian.std() / max(float(centre.std()), 1.0)),
                "dark_fraction": float((centre < 40).mean()), "bright_fraction": float((centre > 245).mean())}
    parts = {"sharpness": ramp(measures["sharpness"], *SHARPNESS),
             "exposure": min(ramp(measures["dark_fraction"], *DARKNESS),
                             ramp(measures["bright_fraction"], *BRIGHTNESS))}
    if face is not None:
        points = np.asarray(face.landmarks, np.float64)
        eyes = float(np.linalg.norm(points[1] - points[0]))
        measures["eye_distance"] = eyes
        measures["yaw"] = float((points[2, 0] - (points[0, 0] + points[1, 0]) / 2) / max(eyes, 1e-6))
        measures["detector_score"] = float(face.score)
        parts["size"] = ramp(eyes, *EYE_DISTANCE)
        parts["pose"] = ramp(abs(measures["yaw"]), *YAW)
        parts["detector"] = ramp(float(face.score), *DETECTOR)
    else:
        parts["detector"] = 0.0  # no face was found: the crop is a guess
    score = min(parts.values())
    return FaceQuality(score, parts, measures, [_reason(name, measures) for name, value in parts.items()
                                                if value < LOW_QUALITY])


def assess_faces(faces: Sequence[Face | None], crops: np.ndarray) -> list[FaceQuality]:
    """:func:`assess` of each face and its crop."""
    return [assess(face, crop) for face, crop in zip(faces, crops)]


def refuse_low_quality(faces: Sequence[Face | None], crops: np.ndarray, errors: list[str | None],
                       names: Sequence[str]) -> list[tuple[int, str]]:
    """Where a face has no error yet and is low quality, its error becomes the refusal, naming its photo
    (``names[i]``): how enrolment from a folder or in bulk skips such a photo. The ``(i, refusal)`` made."""
    refused = []
    for i, quality in enumerate(assess_faces(faces, crops)):
        if errors[i] is None and quality.low:
            refusal = str(LowQualityError(names[i], quality))
            errors[i] = refusal
            refused.append((i, refusal))
    return refused


def _reason(part: str, measures: dict[str, float]) -> str:
    if part == "size":
        return f"face too small ({measures['eye_distance']:.0f} px between the eyes, {EYE_DISTANCE[1]:.0f} wanted)"
    if part == "pose":
        return f"head turned too far (yaw index {measures['yaw']:+.2f}, within +-{YAW[1]:.2f} wanted)"
    if part == "sharpness":
        return f"blurred (sharpness {measures['sharpness']:.3f}, {SHARPNESS[1]} wanted)"
    if part == "exposure":
        if measures["bright_fraction"] > measures["dark_fraction"]:
            return f"over-exposed ({measures['bright_fraction']:.0%} of the face blown out)"
        return f"too dark or lit from the side ({measures['dark_fraction']:.0%} of the face in shadow)"
    if part == "detector":
        score = measures.get("detector_score")
        return "no face detected (a fallback crop)" if score is None else f"detector unsure ({score:.2f})"
    return part
