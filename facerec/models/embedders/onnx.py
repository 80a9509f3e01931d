"""Aligned face crops in, L2-normalised embeddings out, in onnxruntime: no torch is imported here.

An embedder's network is exported to ONNX once (cached by its weights' sha256); later runs read the
export and never build the PyTorch network. :class:`ModelFile` names the weights without building it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from facerec.errors import PrecisionError
from facerec.models.embedders.int8 import Precision, calibration_path, quantized_onnx
from facerec.models.weights import Weights
from facerec.runtime import cached_onnx, onnx_session

if TYPE_CHECKING:
    from facerec.models.embedders.embedder import FaceEmbedder

__all__ = ["ModelFile", "OnnxEmbedder", "embed_crops"]


@dataclass(frozen=True)
class ModelFile:
    """An embedder's weights entry (``sha256`` that of the file found) and how to build its PyTorch network
    (``load``), not yet built: enough to find its ONNX export, which is all a warm cache needs."""

    weights: Weights
    load: Callable[[], FaceEmbedder]

    def digest(self) -> str:
        """The sha256 of the weights file (as :meth:`FaceEmbedder.digest`)."""
        if not self.weights.sha256:
            raise ValueError(f"{self.weights.key}: a ModelFile needs the sha256 of its weights file")
        return self.weights.sha256


class OnnxEmbedder:
    """The same network exported to ONNX (cached by the weights' sha256) and run in onnxruntime.

    In ``fp32`` embeddings match :class:`FaceEmbedder`'s to about 1e-5; in ``int8`` (weights that have a
    calibration, see :mod:`facerec.models.embedders.int8`) they run about 2.3x faster and lie within
    cosine 0.99 of them. Inference only (no gradients).
    """

    def __init__(self, embedder: FaceEmbedder | ModelFile, *, threads: int | None = None,
                 precision: Precision = "fp32") -> None:
        self.weights = embedder.weights
        size = self.weights.alignment.size
        source = embedder

        def example() -> tuple[Any, Any]:
            import torch

            from facerec.models.embedders.embedder import raw_module

            module = source.load() if isinstance(source, ModelFile) else source
            return raw_module(module.cpu().eval()), torch.rand(2, 3, size, size)

        path = cached_onnx(
            f"{self.weights.model}-{self.weights.tag}".replace("/", "_"), embedder.digest(), example,
            inputs=["pixels"], outputs=["raw"], dynamic_axes={"pixels": {0: "batch"}, "raw": {0: "batch"}},
        )
        if precision == "int8":
            calibration = calibration_path(self.weights)
            if calibration is None:
                raise PrecisionError(f"{self.weights.key} has no int8 calibration; use fp32", hint="--precision fp32")
            path = quantized_onnx(path, calibration)
        self.path = path
        self.precision = precision
        self.session = onnx_session(path, threads)

    def embed(self, crops: np.ndarray, *, flip: bool = True, batch_size: int = 64) -> np.ndarray:
        """As :meth:`FaceEmbedder.embed`."""

        def run(pixels: np.ndarray) -> np.ndarray:
            return self.session.run(None, {"pixels": pixels})[0]

        return embed_crops(run, crops, self.weights.embedding_size, flip=flip, batch_size=batch_size)


def embed_crops(run: Callable[[np.ndarray], np.ndarray], crops: np.ndarray, size: int, *, flip: bool,
                batch_size: int) -> np.ndarray:
    """Unit embeddings of uint8 crops through ``run`` (float32 ``N x 3 x S x S`` in ``[0, 1]`` -> raw
    outputs), in batches; with ``flip`` each crop's raw output is summed with its mirror's."""
    if len(crops) == 0:
        return np.zeros((0, size), dtype=np.float32)
    out = []
    for start in range(0, len(crops), batch_size):
        pixels = np.ascontiguousarray(crops[start : start + batch_size].transpose(0, 3, 1, 2), np.float32) / 255.0
        if flip:
            both = run(np.concatenate([pixels, np.ascontiguousarray(pixels[..., ::-1])]))
            raw = both[: len(pixels)] + both[len(pixels) :]
        else:
            raw = run(pixels)
        out.append(raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12))
    return np.concatenate(out).astype(np.float32)
