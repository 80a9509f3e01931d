"""facerec: face detection, alignment, embedding, verification and identification.

>>> import facerec  # doctest: +SKIP
>>> facerec.FaceRecognizer().verify("a.jpg", "b.jpg").same_person  # doctest: +SKIP
True
"""

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
from facerec.recognizer import FaceEmbedding, FaceRecognizer, VerifyResult

__version__ = "0.1.0"

__all__ = [
    "Detector",
    "Face",
    "FaceEmbedding",
    "FaceRecError",
    "FaceRecognizer",
    "Gallery",
    "Identification",
    "ImageReadError",
    "ImageTooLargeError",
    "MultipleFacesError",
    "NoFaceError",
    "UnknownModelError",
    "VerifyResult",
    "WeightsNotFoundError",
    "get_detector",
    "get_model",
    "list_detectors",
    "list_models",
    "load_image",
]
