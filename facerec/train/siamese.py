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
    a: np.ndarray, b: np.ndarray, same: np.ndarray, *, epochs: int = 50, lr: float = 1.0,
    weight_decay: float = 1e-4, seed: int = 0,
) -> SiameseFit:
    """Train a :class:`SiameseHead` full-batch on embedding pairs ``(a[i], b[i])``.

    The head is a logistic regression on ``|a - b|`` (convex), so L-BFGS with a line search
    reaches the optimum in a few dozen steps where first-order methods crawl. ``weight_decay``
    is an L2 penalty on ``w``; ``losses`` holds the cross-entropy before training and after each step.
    """
    if not (len(a) == len(b) == len(same)):
        raise ValueError("a, b and same must have the same length")
    torch.manual_seed(seed)
    head = SiameseHead(a.shape[1])
    ta, tb, ts = torch.from_numpy(a).float(), torch.from_numpy(b).float(), torch.from_numpy(same.astype(np.float32))
    optimizer = torch.optim.LBFGS(head.parameters(), lr=lr, max_iter=20, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = head.loss(ta, tb, ts) + weight_decay * head.linear.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.no_grad():
        losses = [float(head.loss(ta, tb, ts))]  # before the first step
    for _ in range(epochs):
        optimizer.step(closure)
        with torch.no_grad():
            losses.append(float(head.loss(ta, tb, ts)))
    return SiameseFit(head.eval(), losses)
