"""FGSM and PGD (L-infinity) against a face embedder, in the two settings of the face literature.

* **dodging**: perturb one photo of a genuine pair so that its similarity to the other falls;
* **impersonation**: perturb a photo of A so that its similarity to B's photo rises.

The attacked input is the aligned crop (``N x 3 x S x S`` pixels in ``[0, 1]``); the partner's
embedding is fixed (``targets``). ``eps`` and ``step_size`` are in pixel levels, units of 1/255.
torchattacks is built around a classifier's cross-entropy, so the two attacks are written here
against a cosine-similarity loss instead.

>>> embed = pipeline_embedder(model)  # doctest: +SKIP
>>> adversarial = pgd(embed, crops, partner_embeddings, eps=8, setting="dodging")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from facerec.models.embedders.embedder import FaceEmbedder
from facerec.robustness.errors import RobustnessError

__all__ = ["Setting", "EmbedFn", "pipeline_embedder", "fgsm", "pgd", "project", "similarity"]

Setting = Literal["dodging", "impersonation"]
EmbedFn = Callable[[Tensor], Tensor]
SETTINGS: tuple[str, ...] = ("dodging", "impersonation")


def pipeline_embedder(model: FaceEmbedder, *, flip: bool = True) -> EmbedFn:
    """A differentiable copy of :meth:`FaceEmbedder.embed`: float pixels in, unit vectors out.

    With ``flip`` the raw outputs of the crop and its mirror are summed before normalising,
    exactly as ``embed`` does, so the attacker targets the pipeline that is deployed.
    """
    model.eval()
    if not flip:
        return model.forward

    def embed(pixels: Tensor) -> Tensor:
        both = model.net((torch.cat([pixels, pixels.flip(3)]) - model.mean) / model.std)
        return F.normalize(both[: len(pixels)] + both[len(pixels):], dim=1)

    return embed


def similarity(embed: EmbedFn, pixels: Tensor, targets: Tensor) -> Tensor:
    """Cosine similarity of each crop's embedding with its row of ``targets`` (unit vectors)."""
    return (embed(pixels) * targets).sum(dim=1)


def fgsm(embed: EmbedFn, images: Tensor, targets: Tensor, *, eps: float, setting: Setting) -> Tensor:
    """One signed-gradient step of size ``eps`` (pixel levels); returns the adversarial crops."""
    _check(images, targets, eps, setting)
    targets = targets.detach().clone()  # may come from inference mode, which autograd cannot save
    return _step(embed, images, images, targets, eps / 255.0, eps / 255.0, setting)


def pgd(
    embed: EmbedFn,
    images: Tensor,
    targets: Tensor,
    *,
    eps: float,
    setting: Setting,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Projected gradient descent in the L-infinity ball of radius ``eps`` (pixel levels).

    ``step_size`` defaults to ``2.5 * eps / steps`` (Madry et al.); with ``random_start`` the
    search begins at a uniform point of the ball. Every iterate is projected onto the ball and
    onto ``[0, 1]``, so ``(adversarial - images).abs().max() <= eps / 255`` holds exactly.
    """
    _check(images, targets, eps, setting)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise RobustnessError(f"steps must be a positive integer, got {steps!r}")
    targets = targets.detach().clone()  # may come from inference mode, which autograd cannot save
    alpha = 2.5 * eps / steps if step_size is None else step_size
    if not alpha > 0 and eps > 0:
        raise RobustnessError(f"step_size must be positive, got {step_size!r}")
    radius = eps / 255.0
    adversarial = images.detach().clone()
    if random_start and radius > 0:
        noise = torch.rand(images.shape, generator=generator, dtype=images.dtype, device="cpu")
        adversarial = project(images, images + (2 * noise.to(images.device) - 1) * radius, radius)
    for _ in range(steps):
        adversarial = _step(embed, images, adversarial, targets, alpha / 255.0, radius, setting)
    return adversarial


def _step(embed: EmbedFn, images: Tensor, current: Tensor, targets: Tensor, alpha: float, radius: float,
          setting: Setting) -> Tensor:
    if radius == 0:
        return images.detach().clone()
    current = current.detach().requires_grad_(True)
    with torch.enable_grad():
        score = similarity(embed, current, targets).sum()
        (grad,) = torch.autograd.grad(score, current)
    direction = -1.0 if setting == "dodging" else 1.0  # dodging lowers similarity, impersonation raises it
    return project(images, current.detach() + direction * alpha * grad.sign(), radius)


def project(images: Tensor, candidate: Tensor, radius: float) -> Tensor:
    """Clamp onto the eps ball around ``images``, then onto valid pixels (both exactly)."""
    # images lie in [0, 1], so clamping to [0, 1] only shrinks the perturbation
    return (images + (candidate - images).clamp(-radius, radius)).clamp(0.0, 1.0)


def _check(images: Tensor, targets: Tensor, eps: float, setting: str) -> None:
    if not isinstance(images, Tensor) or not images.is_floating_point() or images.dim() != 4 or images.shape[1] != 3:
        raise RobustnessError("images must be a float tensor N x 3 x H x W with pixels in [0, 1]")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise RobustnessError(
            f"pixels must lie in [0, 1], got [{images.min().item():.3f}, {images.max().item():.3f}]"
            " (divide uint8 crops by 255)"
        )
    if not isinstance(targets, Tensor) or targets.dim() != 2 or len(targets) != len(images):
        raise RobustnessError(f"targets must be N x D embeddings, one per image ({len(images)}), "
                              f"got shape {tuple(getattr(targets, 'shape', ()))}")
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not 0 <= eps <= 255:
        raise RobustnessError(f"eps is in pixel levels (units of 1/255) and must be in [0, 255], got {eps!r}")
    if setting not in SETTINGS:
        raise RobustnessError(f"setting must be one of {', '.join(SETTINGS)}, got {setting!r}")
