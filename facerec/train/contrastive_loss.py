"""Contrastive loss (Hadsell, Chopra and LeCun 2006) over every pair in a batch.

Same-person pairs pay ``d^2``, different-person pairs pay ``max(margin - d, 0)^2``, with
``d`` the L2 distance; the two means are added so that the many negative pairs of a P x K
batch do not outweigh its few positive ones.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from facerec.train.distances import squared_distances

__all__ = ["ContrastiveLoss"]


class ContrastiveLoss(nn.Module):
    """``mean_pos(d^2) + mean_neg(max(margin - d, 0)^2)`` over the pairs of a labelled batch."""

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        if margin <= 0:
            raise ValueError(f"margin must be > 0, got {margin}")
        self.margin = margin

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        squared = squared_distances(embeddings)
        same = labels[:, None] == labels[None, :]
        upper = torch.triu(torch.ones_like(same), diagonal=1)
        positive, negative = same & upper, ~same & upper
        total = embeddings.sum() * 0.0
        if positive.any():
            total = total + squared[positive].mean()
        if negative.any():
            # sqrt of an exact 0 has an infinite gradient; the epsilon keeps it finite.
            distance = (squared[negative] + 1e-12).sqrt()
            total = total + torch.relu(self.margin - distance).pow(2).mean()
        return total
