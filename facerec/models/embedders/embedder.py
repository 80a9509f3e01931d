"""Aligned face crops in, L2-normalised embeddings out: in PyTorch, or in onnxruntime."""

from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facerec.errors import PrecisionError
from facerec.models.embedders.int8 import Precision, calibration_path, quantized_onnx
from facerec.models.weights import Weights
from facerec.runtime import cached_onnx, onnx_session

__all__ = ["FaceEmbedder", "OnnxEmbedder", "embed_crops"]


class FaceEmbedder(nn.Module):
    """A network plus the preprocessing of its weights.

    ``forward`` takes RGB pixels in ``[0, 1]`` (``N x 3 x S x S``) and returns unit
    vectors; it is differentiable, so attacks and training use it directly.
    """

    def __init__(self, net: nn.Module, weights: Weights) -> None:
        super().__init__()
        self.net = net
        self.weights = weights
        self.mean: Tensor
        self.std: Tensor
        self.register_buffer("mean", torch.tensor(weights.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(weights.std).view(1, 3, 1, 1), persistent=False)

    def raw(self, pixels: Tensor) -> Tensor:
        """The network's output before L2 normalisation."""
        return self.net((pixels - self.mean) / self.std)

    def forward(self, pixels: Tensor) -> Tensor:
        return F.normalize(self.raw(pixels), dim=1)

    def embed(self, crops: np.ndarray, *, flip: bool = True, batch_size: int = 64) -> np.ndarray:
        """Embed ``N x S x S x 3`` uint8 crops; with ``flip`` the mirrored crop is added in.

        Returns an ``N x D`` float32 array of unit vectors (``0 x D`` for no crops).
        """
        device = self.mean.device

        def run(pixels: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return self.raw(torch.from_numpy(pixels).to(device)).float().cpu().numpy()

        return embed_crops(run, crops, self.weights.embedding_size, flip=flip, batch_size=batch_size)

    def digest(self) -> str:
        """The sha256 of the weights file, or of the parameters when there is none."""
        if self.weights.sha256:
            return self.weights.sha256
        digest = hashlib.sha256()
        for name, tensor in sorted(self.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()


class _Raw(nn.Module):
    def __init__(self, embedder: FaceEmbedder) -> None:
        super().__init__()
        self.embedder = embedder

    def forward(self, pixels: Tensor) -> Tensor:
        return self.embedder.raw(pixels)


class OnnxEmbedder:
    """The same network exported to ONNX (cached by the weights' sha256) and run in onnxruntime.

    In ``fp32`` embeddings match :class:`FaceEmbedder`'s to about 1e-5; in ``int8`` (weights that have a
    calibration, see :mod:`facerec.models.embedders.int8`) they run about 2.3x faster and lie within
    cosine 0.99 of them. Inference only (no gradients).
    """

    def __init__(self, embedder: FaceEmbedder, *, threads: int | None = None, precision: Precision = "fp32") -> None:
        self.weights = embedder.weights
        size = self.weights.alignment.size
        embedder = embedder.cpu().eval()
        path = cached_onnx(
            f"{self.weights.model}-{self.weights.tag}".replace("/", "_"), embedder.digest(),
            lambda: (_Raw(embedder), torch.rand(2, 3, size, size)),
            inputs=["pixels"], outputs=["raw"], dynamic_axes={"pixels": {0: "batch"}, "raw": {0: "batch"}},
        )
        if precision == "int8":
            calibration = calibration_path(self.weights)
            if calibration is None:
                raise PrecisionError(f"{self.weights.key} has no int8 calibration; use --precision fp32")
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
