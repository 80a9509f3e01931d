"""What facerec runs: face embedders (:mod:`facerec.models.embedders`) and face detectors
(:mod:`facerec.models.detectors`), each with a registry and weights entries that share one
mechanism (:mod:`facerec.models.weights`: URL, sha256, license, where a file is looked for).

Reading the registries imports no torch; neither does running a model (``load_embedder``: its ONNX file in
onnxruntime, built-in or added with ``facerec models add``); building a PyTorch network (``get_model``) does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from facerec.models.detectors import DEFAULT_DETECTOR, Detector, get_detector, list_detectors
from facerec.models.embedders import (
    ModelFile,
    ModelSpec,
    get_model,
    get_weights,
    list_models,
    list_weights,
    load_embedder,
    model_file,
    register_model,
)
from facerec.models.weights import Weights, WeightsFile

if TYPE_CHECKING:
    from facerec.models.embedders.embedder import FaceEmbedder

__all__ = ["DEFAULT_DETECTOR", "Detector", "FaceEmbedder", "ModelFile", "ModelSpec", "Weights", "WeightsFile",
           "get_detector", "get_model", "get_weights", "list_detectors", "list_models", "list_weights", "load_embedder",
           "model_file", "register_model"]


def __getattr__(name: str) -> Any:
    """``FaceEmbedder`` (PyTorch), imported when asked for."""
    if name == "FaceEmbedder":
        from facerec.models.embedders.embedder import FaceEmbedder

        return FaceEmbedder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
