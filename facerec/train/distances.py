"""Pairwise squared Euclidean distances, the metric FaceNet's triplet loss is written in."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["squared_distances"]


def squared_distances(embeddings: Tensor) -> Tensor:
    """``N x N`` matrix of ``||f_i - f_j||^2`` (clamped at 0, exact 0 on the diagonal)."""
    squares = (embeddings * embeddings).sum(dim=1)
    distances = squares[:, None] + squares[None, :] - 2.0 * embeddings @ embeddings.T
    distances = distances.clamp_min(0.0)
    return distances * (1.0 - torch.eye(len(embeddings), device=embeddings.device, dtype=embeddings.dtype))
