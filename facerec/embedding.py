"""Aligned face crops in, L2-normalised embeddings out."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facerec.models.weights import Weights

__all__ = ["FaceEmbedder"]


class FaceEmbedder(nn.Module):
    """A network plus the preprocessing of its weights.

    ``forward`` takes RGB pixels in ``[0, 1]`` (``N x 3 x S x S``) and returns unit
    vectors; it is differentiable, so attacks and training use it directly.
    """

    def __init__(self, net: nn.Module, weights: Weights) -> None:
        super().__init__()
        self.net = net
        self.weights = weights
        self.register_buffer("mean", torch.tensor(weights.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(weights.std).view(1, 3, 1, 1), persistent=False)

    def forward(self, pixels: Tensor) -> Tensor:
        return F.normalize(self.net((pixels - self.mean) / self.std), dim=1)

    def embed(self, crops: np.ndarray, *, flip: bool = True, batch_size: int = 64) -> np.ndarray:
        """Embed ``N x S x S x 3`` uint8 crops; with ``flip`` the mirrored crop is added in.

        Returns an ``N x D`` float32 array of unit vectors (``0 x D`` for no crops).
        """
        size = self.weights.embedding_size
        if len(crops) == 0:
            return np.zeros((0, size), dtype=np.float32)
        device = self.mean.device
        out = []
        with torch.inference_mode():
            for start in range(0, len(crops), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(crops[start : start + batch_size]))
                pixels = batch.to(device).permute(0, 3, 1, 2).float().div_(255.0)
                if flip:
                    both = self.net((torch.cat([pixels, pixels.flip(3)]) - self.mean) / self.std)
                    raw = both[: len(pixels)] + both[len(pixels) :]
                else:
                    raw = self.net((pixels - self.mean) / self.std)
                out.append(F.normalize(raw, dim=1).cpu().numpy())
        return np.concatenate(out).astype(np.float32)
