"""Training augmentation on batches of pixels in [0, 1]: flip, crop, rotation, brightness/contrast."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Augment"]


@dataclass(frozen=True)
class Augment:
    """Random horizontal flip, a random crop of ``crop`` of the side resized back, a rotation of
    up to ``rotate`` degrees, and brightness/contrast jitter, each per image.
    ``Augment(enabled=False)`` is the identity; :meth:`strong` is the heavier preset for training
    from scratch on few people.
    """

    flip: bool = True
    crop: float = 0.9
    brightness: float = 0.2
    contrast: float = 0.2
    rotate: float = 0.0
    enabled: bool = True

    @classmethod
    def strong(cls) -> "Augment":
        return cls(crop=0.75, brightness=0.3, contrast=0.4, rotate=12.0)

    def __call__(self, pixels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if not self.enabled:
            return pixels
        n, _, height, width = pixels.shape

        def uniform(low: float, high: float) -> Tensor:
            return low + (high - low) * torch.rand(n, generator=generator)

        if self.crop < 1.0 or self.rotate > 0:
            scale = uniform(self.crop, 1.0)
            angle = uniform(-self.rotate, self.rotate) * (torch.pi / 180)
            shift_x = (1 - scale) * (2 * torch.rand(n, generator=generator) - 1)
            shift_y = (1 - scale) * (2 * torch.rand(n, generator=generator) - 1)
            theta = torch.zeros(n, 2, 3)
            theta[:, 0, 0], theta[:, 0, 1] = scale * angle.cos(), -scale * angle.sin()
            theta[:, 1, 0], theta[:, 1, 1] = scale * angle.sin(), scale * angle.cos()
            theta[:, 0, 2], theta[:, 1, 2] = shift_x, shift_y
            grid = F.affine_grid(theta.to(pixels), list(pixels.shape), align_corners=False)
            pixels = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if self.flip:
            flipped = (torch.rand(n, generator=generator) < 0.5).to(pixels.device)
            pixels = torch.where(flipped[:, None, None, None], pixels.flip(3), pixels)
        gain = uniform(1 - self.contrast, 1 + self.contrast).to(pixels)[:, None, None, None]
        offset = uniform(-self.brightness, self.brightness).to(pixels)[:, None, None, None]
        mean = pixels.mean(dim=(1, 2, 3), keepdim=True)
        return ((pixels - mean) * gain + mean + offset).clamp(0.0, 1.0)
