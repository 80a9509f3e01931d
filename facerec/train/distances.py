"""Pairwise squared Euclidean distances, the metric FaceNet's triplet loss is written in."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["squared_distances", "paired_squared_distances"]


def squared_distances(embeddings: Tensor) -> Tensor:
    """``N x N`` matrix of ``||f_i - f_j||^2`` (clamped at 0, exact 0 on the diagonal)."""
    squares = (embeddings * embeddings).sum(dim=1)
    distances = squares[:, None] + squares[None, :] - 2.0 * embeddings @ embeddings.T
    distances = distances.clamp_min(0.0)
    return distances * (1.0 - torch.eye(len(embeddings), device=embeddings.device, dtype=embeddings.dtype))


def paired_squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """``||a_i - b_i||^2`` for each row ``i`` (exact, not through the matrix form's cancellation)."""
    return (a - b).pow(2).sum(dim=1)
