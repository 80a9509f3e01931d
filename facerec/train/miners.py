"""Online triplet mining inside a batch: each miner returns index tuples ``(a, p, n)``.

As in pytorch-metric-learning, a miner only picks indices and a loss consumes them, so
any miner combines with :class:`~facerec.train.triplet_loss.TripletLoss`. Distances are
squared L2 (the FaceNet loss's own), which orders pairs exactly as plain L2 does.

- :class:`BatchAllMiner`: every valid triplet (Hermans et al. 2017, "batch all").
- :class:`BatchHardMiner`: per anchor, its farthest positive and nearest negative ("batch hard").
- :class:`SemiHardMiner`: per anchor-positive pair, FaceNet's semi-hard negative: the nearest
  negative that is farther than the positive; where none is, the farthest negative (as in
  TensorFlow's ``triplet_semihard_loss``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from facerec.train.distances import squared_distances

__all__ = ["Triplets", "BatchAllMiner", "BatchHardMiner", "SemiHardMiner", "get_miner", "MINERS"]

Triplets = tuple[Tensor, Tensor, Tensor]


def _masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return positive, ~same


def _empty(device: torch.device) -> Triplets:
    empty = torch.zeros(0, dtype=torch.long, device=device)
    return empty, empty, empty


class BatchAllMiner:
    """All ``(a, p, n)`` with ``label[a] == label[p] != label[n]`` and ``a != p``."""

    def __call__(self, embeddings: Tensor, labels: Tensor) -> Triplets:
        positive, negative = _masks(labels)
        valid = positive[:, :, None] & negative[:, None, :]
        anchor, pos, neg = torch.nonzero(valid, as_tuple=True)
        return anchor, pos, neg


class BatchHardMiner:
    """For each anchor with a positive and a negative: hardest positive, hardest negative."""

    def __call__(self, embeddings: Tensor, labels: Tensor) -> Triplets:
        with torch.no_grad():
            distances = squared_distances(embeddings)
        positive, negative = _masks(labels)
        usable = positive.any(dim=1) & negative.any(dim=1)
        if not usable.any():
            return _empty(embeddings.device)
        hardest_pos = distances.masked_fill(~positive, -1.0).argmax(dim=1)
        hardest_neg = distances.masked_fill(~negative, float("inf")).argmin(dim=1)
        anchor = torch.nonzero(usable, as_tuple=True)[0]
        return anchor, hardest_pos[anchor], hardest_neg[anchor]


class SemiHardMiner:
    """FaceNet's semi-hard negatives: one triplet per anchor-positive pair.

    The negative is the closest one with ``d(a, n) > d(a, p)``; when an anchor has no such
    negative, its farthest negative is taken (a zero-loss triplet unless within the margin).
    """

    def __call__(self, embeddings: Tensor, labels: Tensor) -> Triplets:
        with torch.no_grad():
            distances = squared_distances(embeddings)
        positive, negative = _masks(labels)
        anchor, pos = torch.nonzero(positive & negative.any(dim=1, keepdim=True), as_tuple=True)
        if len(anchor) == 0:
            return _empty(embeddings.device)
        ap = distances[anchor, pos][:, None]
        an = distances[anchor]
        is_negative = negative[anchor]
        farther = is_negative & (an > ap)
        semi_hard = an.masked_fill(~farther, float("inf")).argmin(dim=1)
        easiest = an.masked_fill(~is_negative, -1.0).argmax(dim=1)
        neg = torch.where(farther.any(dim=1), semi_hard, easiest)
        return anchor, pos, neg


MINERS = {"all": BatchAllMiner, "hard": BatchHardMiner, "semihard": SemiHardMiner}


def get_miner(name: str):
    """The miner called ``name``: ``all``, ``hard`` or ``semihard``."""
    if name not in MINERS:
        raise ValueError(f"unknown miner {name!r}; known: {', '.join(MINERS)}")
    return MINERS[name]()
