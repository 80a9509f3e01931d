"""FaceNet's triplet loss on mined ``(anchor, positive, negative)`` index tuples.

``L = mean over triplets of max(||f(a) - f(p)||^2 - ||f(a) - f(n)||^2 + margin, 0)``
(Schroff et al. 2015, eq. 1), with squared L2 distances on the embeddings as given
(facerec's embedders return unit vectors, so distances lie in [0, 4]).

>>> import torch
>>> loss = TripletLoss(margin=0.2)
>>> e = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
>>> float(loss(e, (torch.tensor([0]), torch.tensor([2]), torch.tensor([1]))))
0.0
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from facerec.train.distances import paired_squared_distances
from facerec.train.miners import Triplets

__all__ = ["TripletLoss"]


class TripletLoss(nn.Module):
    """Triplet loss with a margin, on the triplets a miner picked.

    ``reduction="mean"`` averages over every triplet; ``"nonzero"`` only over the triplets
    that still violate the margin (what batch-all mining needs, or the many easy triplets
    drown the signal). No triplets gives a zero loss that still backpropagates.
    """

    def __init__(self, margin: float = 0.2, *, reduction: Literal["mean", "nonzero"] = "mean") -> None:
        super().__init__()
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        if reduction not in ("mean", "nonzero"):
            raise ValueError(f"reduction must be 'mean' or 'nonzero', got {reduction!r}")
        self.margin = margin
        self.reduction = reduction

    def forward(self, embeddings: Tensor, triplets: Triplets) -> Tensor:
        anchor, positive, negative = triplets
        if len(anchor) == 0:
            return embeddings.sum() * 0.0
        ap = paired_squared_distances(embeddings[anchor], embeddings[positive])
        an = paired_squared_distances(embeddings[anchor], embeddings[negative])
        losses = torch.relu(ap - an + self.margin)
        if self.reduction == "nonzero":
            active = losses > 0
            return losses[active].mean() if active.any() else losses.sum() * 0.0
        return losses.mean()
