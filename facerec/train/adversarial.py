"""Adversarial examples for training (Madry et al. 2018): PGD against the batch's own triplets.

For each P x K batch, the crops are moved inside an L-infinity ball of ``eps`` pixel levels
(units of 1/255) so that every anchor drifts away from its positives and towards its negatives:
the sum over all valid triplets of ``||f(a) - f(p)||^2 - ||f(a) - f(n)||^2``, which is what
dodging and impersonation attacks push. The margin's hinge is left out so that triplets the
network already gets right still give a gradient. The attack runs with the network in eval
mode (batch-norm statistics untouched, as the deployed model sees it).

>>> batch = adversarial_batch(model, pixels, labels, eps=4, steps=3)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from torch import Tensor

from facerec.errors import FaceRecError
from facerec.models.embedders.embedder import FaceEmbedder
from facerec.robustness.attacks import project
from facerec.train.miners import BatchAllMiner

__all__ = ["adversarial_batch"]


def adversarial_batch(
    model: FaceEmbedder,
    pixels: Tensor,
    labels: Tensor,
    *,
    eps: float,
    steps: int = 3,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The batch ``pixels`` (``N x 3 x S x S`` in [0, 1]) after a PGD attack on its triplets.

    Random start, step ``2.5 * eps / steps``, each iterate projected onto the eps ball and [0, 1].
    """
    if not 0 < eps <= 255:
        raise FaceRecError(f"adversarial eps is in pixel levels (1/255) and must lie in (0, 255], got {eps}")
    if steps < 1:
        raise FaceRecError(f"adversarial steps must be >= 1, got {steps}")
    anchor, positive, negative = BatchAllMiner()(pixels.flatten(1), labels)  # uses the labels alone
    radius, alpha = eps / 255.0, 2.5 * eps / steps / 255.0
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    clean = pixels.detach()
    noise = torch.rand(clean.shape, generator=generator).to(clean.device)
    current = project(clean, clean + (2 * noise - 1) * radius, radius)
    try:
        for _ in range(steps):
            current.requires_grad_(True)
            with torch.enable_grad():
                embeddings = model(current)
                ap = (embeddings[anchor] - embeddings[positive]).pow(2).sum(1)
                an = (embeddings[anchor] - embeddings[negative]).pow(2).sum(1)
                (grad,) = torch.autograd.grad((ap - an).sum(), current)
            current = project(clean, current.detach() + alpha * grad.sign(), radius)
    finally:
        for module, mode in modes:
            module.training = mode
    return current.detach()
