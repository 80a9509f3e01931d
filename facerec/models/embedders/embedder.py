"""Aligned face crops in, L2-normalised embeddings out, in PyTorch (:class:`FaceEmbedder`).

The onnxruntime side (:class:`~facerec.models.embedders.onnx.OnnxEmbedder`, :func:`embed_crops`) lives in
:mod:`facerec.models.embedders.onnx`, which imports no torch; both names are importable from here too.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facerec.models.embedders.onnx import OnnxEmbedder, embed_crops
from facerec.models.weights import Weights

__all__ = ["FaceEmbedder", "OnnxEmbedder", "embed_crops", "raw_module"]


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

    def export_module(self) -> nn.Module:
        """This embedder on the CPU in eval mode, without the L2 normalisation: what is exported to ONNX."""
        return raw_module(self.cpu().eval())


def raw_module(embedder: FaceEmbedder) -> nn.Module:
    """``embedder`` without the L2 normalisation: what is exported to ONNX (the flip sum comes before it)."""
    return _Raw(embedder)


class _Raw(nn.Module):
    def __init__(self, embedder: FaceEmbedder) -> None:
        super().__init__()
        self.embedder = embedder

    def forward(self, pixels: Tensor) -> Tensor:
        return self.embedder.raw(pixels)
