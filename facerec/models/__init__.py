"""What facerec runs: face embedders (:mod:`facerec.models.embedders`) and face detectors
(:mod:`facerec.models.detectors`), each with a registry and weights entries that share one
mechanism (:mod:`facerec.models.weights`: URL, sha256, license, where a file is looked for).
"""

from facerec.models.detectors import DEFAULT_DETECTOR, Detector, get_detector, list_detectors
from facerec.models.embedders import (
    FaceEmbedder,
    ModelSpec,
    get_model,
    get_weights,
    list_models,
    list_weights,
    register_model,
)
from facerec.models.weights import Weights, WeightsFile

__all__ = ["DEFAULT_DETECTOR", "Detector", "FaceEmbedder", "ModelSpec", "Weights", "WeightsFile", "get_detector",
           "get_model", "get_weights", "list_detectors", "list_models", "list_weights", "register_model"]
