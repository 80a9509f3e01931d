"""Aligned face crops in, L2-normalised embeddings out, in onnxruntime: no torch is imported here.

An embedder is an ONNX file plus its spec (:class:`~facerec.models.weights.Weights`: input size, colour order,
mean/std, alignment, embedding size). A built-in model runs its published ONNX file, found like a weights file
(``FACEREC_WEIGHTS_DIR``, the cache, a checked download); where none is found, its PyTorch network is exported
once (the torch extra) and cached by its weights' sha256. A model added by the user
(:mod:`facerec.models.embedders.custom`) is its own ONNX file. :class:`ModelFile` names what runs without
building anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generic, Protocol, TypeVar

import numpy as np

from facerec.errors import PrecisionError
from facerec.models.embedders.int8 import Precision, calibration_path, quantized_onnx
from facerec.models.weights import Weights
from facerec.runtime import cached_onnx, onnx_session

__all__ = ["ModelFile", "OnnxEmbedder", "TorchEmbedder", "embed_crops"]


class TorchEmbedder(Protocol):
    """A PyTorch embedder as the ONNX side sees it (:class:`~facerec.models.embedders.embedder.FaceEmbedder`,
    whose module imports this one, not the other way): its spec, the digest its export is cached under, and
    the network that export traces."""

    @property
    def weights(self) -> Weights: ...

    def digest(self) -> str: ...

    def export_module(self) -> Any:
        """The network on the CPU in eval mode, without the L2 normalisation (the flip sum comes before it)."""


#: What a :class:`ModelFile` builds (``ModelFile[FaceEmbedder]`` for every file :func:`model_file` finds).
Net = TypeVar("Net", bound=TorchEmbedder, covariant=True)


@dataclass(frozen=True)
class ModelFile(Generic[Net]):
    """An embedder's spec (``sha256`` that of its weights), the ONNX file that runs it where one was found
    (``onnx``), and how to build its PyTorch network (``load``; None for a model that is only an ONNX file).

    ``normalise`` says the ONNX file wants the spec's colour order and mean/std applied before it (a file
    published by others); facerec's own exports take RGB pixels in [0, 1] and normalise inside.
    """

    weights: Weights
    load: Callable[[], Net] | None
    onnx: Path | None = None
    normalise: bool = False

    def digest(self) -> str:
        """The sha256 of the weights file (as :meth:`FaceEmbedder.digest`)."""
        if not self.weights.sha256:
            raise ValueError(f"{self.weights.key}: a ModelFile needs the sha256 of its weights file")
        return self.weights.sha256


class OnnxEmbedder:
    """An embedder's ONNX file run in onnxruntime: the published or added file, or the network's export.

    In ``fp32`` embeddings match :class:`FaceEmbedder`'s to about 1e-5; in ``int8`` (weights that have a
    calibration, see :mod:`facerec.models.embedders.int8`) they run about 2.3x faster and lie within
    cosine 0.99 of them. Inference only (no gradients).
    """

    def __init__(self, embedder: TorchEmbedder | ModelFile[TorchEmbedder], *, threads: int | None = None,
                 precision: Precision = "fp32") -> None:
        self.weights = embedder.weights
        if isinstance(embedder, ModelFile) and embedder.onnx is not None:
            path, self.normalise = embedder.onnx, embedder.normalise
        else:
            path, self.normalise = _export(embedder), False
        if precision == "int8":
            calibration = calibration_path(self.weights)
            if calibration is None or self.normalise:
                raise PrecisionError(f"{self.weights.key} has no int8 calibration; use fp32", hint="--precision fp32")
            path = quantized_onnx(path, calibration)
        self.path = path
        self.precision = precision
        self.session = onnx_session(path, threads)
        first = self.session.get_inputs()[0]
        self.input = first.name
        #: The batch size the file was saved with, where it is fixed (others' exports are often batch 1).
        self.fixed_batch = first.shape[0] if isinstance(first.shape[0], int) and first.shape[0] > 0 else None
        weights = self.weights
        self._mean = np.asarray(weights.mean, np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(weights.std, np.float32).reshape(1, 3, 1, 1)

    def _run(self, pixels: np.ndarray) -> np.ndarray:
        """Raw outputs of ``N x 3 x S x S`` RGB pixels in [0, 1]."""
        if self.normalise:
            if self.weights.colour == "bgr":
                pixels = pixels[:, ::-1]
            pixels = np.ascontiguousarray((pixels - self._mean) / self._std, np.float32)
        if self.fixed_batch is None or len(pixels) == self.fixed_batch:
            return self.session.run(None, {self.input: pixels})[0]
        step = self.fixed_batch
        parts = []
        for start in range(0, len(pixels), step):
            chunk = pixels[start : start + step]
            short = step - len(chunk)
            if short:  # the last chunk, padded to the file's batch size
                chunk = np.concatenate([chunk, np.zeros((short, *chunk.shape[1:]), np.float32)])
            parts.append(self.session.run(None, {self.input: chunk})[0][: step - short])
        return np.concatenate(parts)

    def embed(self, crops: np.ndarray, *, flip: bool = True, batch_size: int = 64) -> np.ndarray:
        """As :meth:`FaceEmbedder.embed`."""
        return embed_crops(self._run, crops, self.weights.embedding_size, flip=flip, batch_size=batch_size)


def _export(embedder: TorchEmbedder | ModelFile[TorchEmbedder]) -> Path:
    """The cached ONNX export of the embedder's PyTorch network (made once; needs torch the first time)."""
    weights = embedder.weights
    size = weights.alignment.size
    if isinstance(embedder, ModelFile) and embedder.load is None:
        raise ValueError(f"{weights.key} is an ONNX file, with no PyTorch network to export")

    def example() -> tuple[Any, Any]:
        import torch

        module = embedder.load() if isinstance(embedder, ModelFile) and embedder.load else embedder
        return module.export_module(), torch.rand(2, 3, size, size)  # type: ignore[union-attr]

    known = (weights.onnx.sha256,) if weights.onnx is not None and weights.onnx.sha256 else ()
    return cached_onnx(
        f"{weights.model}-{weights.tag}".replace("/", "_"), embedder.digest(), example,
        inputs=["pixels"], outputs=["raw"], dynamic_axes={"pixels": {0: "batch"}, "raw": {0: "batch"}}, known=known,
    )


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
