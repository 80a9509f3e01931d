"""The embedding space a gallery's faces live in: the settings that change the embedding of an aligned crop.

Scores compare embeddings; two embeddings of one face made with different settings differ, so a probe is only
scored against a gallery whose faces were embedded the same way. The key holds the model (its weights key and
the sha256 of its published weights file, where one is recorded), the precision the embedder really runs in,
test-time flip, side-light evening and who places the 5 landmarks the crop is aligned on (the alignment template
belongs to the model). The detector is not in it: it only finds the box, and the landmarks decide the crop.

>>> differing({"precision": "int8", "flip": True}, {"precision": "fp32", "flip": True})
['precision']
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from facerec.errors import FaceRecError

if TYPE_CHECKING:
    from facerec.models.detectors.base import Detector
    from facerec.models.weights import Weights


class Embeds(Protocol):
    """What the key is read from: a :class:`facerec.FaceRecognizer`."""

    @property
    def weights(self) -> Weights: ...
    @property
    def precision(self) -> str: ...
    @property
    def flip(self) -> bool: ...
    @property
    def detector(self) -> Detector: ...

__all__ = ["SPACE_SETTINGS", "EmbeddingSpaceError", "describe", "differing", "embedding_space", "landmark_source",
           "missing"]

#: The settings of the key, in the order messages name them.
SPACE_SETTINGS = ("model", "sha256", "precision", "flip", "even_light", "landmarks")


class EmbeddingSpaceError(FaceRecError):
    """A probe (or new faces) embedded otherwise than the gallery's faces: scoring them would be meaningless."""


def landmark_source(detector: Detector) -> str:
    """Who places the landmarks a crop is aligned on: ``"mtcnn"`` (MTCNN's refinement, or MTCNN itself),
    ``"detector"`` (the detector's own) or ``"template"`` (``--face-crop``: the model's template on the image)."""
    settings = getattr(detector, "settings", {})
    if settings.get("name") == "face-crop":
        return "template"
    text = json.dumps(settings, default=str)
    return "mtcnn" if "mtcnn-rnet-onet" in text or settings.get("name") == "mtcnn" else "detector"


def embedding_space(recognizer: Embeds, even_light: bool) -> dict[str, Any]:
    """The key of the space ``recognizer`` embeds in, with side light evened out or not (``even_light``: the
    gallery's own setting, see :attr:`facerec.Gallery.even_light`)."""
    weights = recognizer.weights
    return {"model": weights.key, "sha256": weights.sha256, "precision": str(recognizer.precision),
            "flip": bool(recognizer.flip), "even_light": bool(even_light),
            "landmarks": landmark_source(recognizer.detector)}


def missing(recorded: Mapping[str, Any]) -> list[str]:
    """The settings a gallery's record lacks (one made before they were recorded)."""
    return [name for name in SPACE_SETTINGS if name not in recorded]


def differing(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The settings recorded with a gallery that ``current`` differs in (those not recorded are not compared)."""
    return [name for name in SPACE_SETTINGS if name in recorded and name in current and recorded[name] != current[name]]


def describe(space: Mapping[str, Any], names: list[str]) -> str:
    """``names`` of ``space`` in words: ``"precision int8, flip on"``."""
    words = {"model": "model", "sha256": "model file sha256", "precision": "precision", "flip": "flip",
             "even_light": "side-light evening", "landmarks": "landmarks"}
    parts = []
    for name in names:
        value = space.get(name)
        shown = ("on" if value else "off") if isinstance(value, bool) else \
            (str(value)[:12] if name == "sha256" and value else str(value) if value is not None else "none")
        parts.append(f"{words[name]} {shown}")
    return ", ".join(parts)


def check_space(recorded: Mapping[str, Any], current: Mapping[str, Any], *, what: str) -> None:
    """Raise :class:`EmbeddingSpaceError` naming each setting ``current`` differs in from the gallery's
    ``recorded`` key; ``what`` says what was embedded (``"this probe was embedded"``)."""
    names = differing(recorded, current)
    if names:
        raise EmbeddingSpaceError(f"this gallery was enrolled with {describe(recorded, names)}; {what} with "
                                  f"{describe(current, names)}: use the same settings or a new gallery")
