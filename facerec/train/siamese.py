"""The siamese similarity head of DeepFace (Taigman et al. 2014), learned on pairs.

``y = sigmoid(sum_k w_k |f(x_i)_k - f(x_j)_k| + b)``: a weighted L1 distance between two
embeddings, trained with binary cross-entropy on same/different labels; the embedder
itself stays frozen.

>>> import torch
>>> head = SiameseHead(128)
>>> head(torch.zeros(2, 128), torch.zeros(2, 128)).shape
torch.Size([2])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SiameseHead", "SiameseFit", "fit_siamese"]


class SiameseHead(nn.Module):
    """Logit of "same person" from the absolute difference of two embeddings."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, 1)
        # Start at "same when close": negative weights, so a larger |difference| lowers the logit.
        nn.init.constant_(self.linear.weight, -1.0)
        nn.init.constant_(self.linear.bias, 1.0)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return self.linear((a - b).abs()).squeeze(1)

    def probability(self, a: Tensor, b: Tensor) -> Tensor:
        return torch.sigmoid(self(a, b))

    def loss(self, a: Tensor, b: Tensor, same: Tensor) -> Tensor:
        """Binary cross-entropy of the predicted probability against ``same`` (0/1)."""
        return F.binary_cross_entropy_with_logits(self(a, b), same.float())


@dataclass(frozen=True)
class SiameseFit:
    head: SiameseHead
    losses: list[float]


def fit_siamese(
    a: np.ndarray, b: np.ndarray, same: np.ndarray, *, epochs: int = 300, lr: float = 0.01,
    weight_decay: float = 1e-4, seed: int = 0,
) -> SiameseFit:
    """Train a :class:`SiameseHead` full-batch with Adam on embedding pairs ``(a[i], b[i])``."""
    if not (len(a) == len(b) == len(same)):
        raise ValueError("a, b and same must have the same length")
    torch.manual_seed(seed)
    head = SiameseHead(a.shape[1])
    ta, tb, ts = torch.from_numpy(a).float(), torch.from_numpy(b).float(), torch.from_numpy(same.astype(np.float32))
    optimizer = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = head.loss(ta, tb, ts)
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    return SiameseFit(head.eval(), losses)
