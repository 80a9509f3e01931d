"""Batch data augmentation on normalised image tensors: random shifts, small rotations, mirror flips.

All in one affine warp per batch (``grid_sample``), so it costs little next to the network.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["AUGMENTATIONS", "augment_batch"]

#: shift: up to 10% of the side each way; rotate: up to 10 degrees; flip: left-right mirror half the time.
AUGMENTATIONS = ("shift", "rotate", "flip")


def augment_batch(x: Tensor, kinds: tuple[str, ...], generator: torch.Generator) -> Tensor:
    """A randomly warped copy of ``x`` (N x C x H x W); borders are filled with zeros (the mean)."""
    unknown = set(kinds) - set(AUGMENTATIONS)
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(sorted(unknown))}; known: {', '.join(AUGMENTATIONS)}")
    n = len(x)

    def uniform(low: float, high: float) -> Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    angle = uniform(-10, 10) * math.pi / 180 if "rotate" in kinds else torch.zeros(n)
    shift = (uniform(-0.2, 0.2), uniform(-0.2, 0.2)) if "shift" in kinds else (torch.zeros(n), torch.zeros(n))
    mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if "flip" in kinds else torch.ones(n)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = torch.cos(angle) * mirror
    theta[:, 0, 1] = -torch.sin(angle)
    theta[:, 1, 0] = torch.sin(angle) * mirror
    theta[:, 1, 1] = torch.cos(angle)
    theta[:, 0, 2], theta[:, 1, 2] = shift
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
