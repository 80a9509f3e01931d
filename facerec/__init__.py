"""facerec: face detection, alignment, embedding, verification and identification.

The names below are imported when first used (Scientific Python SPEC 1, as scikit-image and NetworkX do),
so ``import facerec`` is instant and a command pays only for what it runs.

>>> import facerec  # doctest: +SKIP
>>> facerec.FaceRecognizer().verify("a.jpg", "b.jpg").same_person  # doctest: +SKIP
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Each public name and the module it comes from.
_EXPORTS = {
    "Detector": "facerec.models",
    "Face": "facerec.detection",
    "FaceEmbedding": "facerec.recognizer",
    "FaceRecError": "facerec.errors",
    "FaceRecognizer": "facerec.recognizer",
    "Gallery": "facerec.gallery",
    "Identification": "facerec.gallery",
    "ImageReadError": "facerec.errors",
    "ImageTooLargeError": "facerec.errors",
    "MultipleFacesError": "facerec.errors",
    "NoFaceError": "facerec.errors",
    "PipelineConfig": "facerec.config",
    "UnknownModelError": "facerec.errors",
    "VerifyResult": "facerec.recognizer",
    "WeightsNotFoundError": "facerec.errors",
    "build_recognizer": "facerec.recognizer",
    "get_detector": "facerec.models",
    "get_model": "facerec.models",
    "list_detectors": "facerec.models",
    "list_models": "facerec.models",
    "load_image": "facerec.io",
}

__all__ = [
    "Detector", "Face", "FaceEmbedding", "FaceRecError", "FaceRecognizer", "Gallery", "Identification",
    "ImageReadError", "ImageTooLargeError", "MultipleFacesError", "NoFaceError", "PipelineConfig",
    "UnknownModelError", "VerifyResult", "WeightsNotFoundError", "build_recognizer", "get_detector", "get_model",
    "list_detectors", "list_models", "load_image",
]

if TYPE_CHECKING:
    from facerec.config import PipelineConfig
    from facerec.detection import Face
    from facerec.errors import (
        FaceRecError,
        ImageReadError,
        ImageTooLargeError,
        MultipleFacesError,
        NoFaceError,
        UnknownModelError,
        WeightsNotFoundError,
    )
    from facerec.gallery import Gallery, Identification
    from facerec.io import load_image
    from facerec.models import Detector, get_detector, get_model, list_detectors, list_models
    from facerec.recognizer import FaceEmbedding, FaceRecognizer, VerifyResult, build_recognizer


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    raise AttributeError(f"module 'facerec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
