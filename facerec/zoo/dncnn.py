"""DnCNN (Zhang et al. 2017): a plain stack of 3x3 convolutions that learns the noise, not the image.

Layer 1 is conv + ReLU, layers 2 to D-1 conv + batch norm + ReLU, layer D a conv back to the image's
channels; all have 64 filters in the paper (``width`` scales them). With residual learning the network
output is the noise estimate, and :meth:`DnCNN.forward` returns ``noisy - noise``, the clean estimate.
D = 17 for a known noise level, 20 for blind denoising in the paper.

>>> model = dncnn(depth=17)
>>> sum(p.numel() for p in model.parameters())
556097
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["DnCNN", "add_noise", "denoise_image", "dncnn", "psnr"]


class DnCNN(nn.Module):
    """DnCNN with ``depth`` convolutions of ``features`` filters; ``forward`` gives the denoised image."""

    def __init__(self, in_channels: int = 1, *, depth: int = 17, features: int = 64) -> None:
        super().__init__()
        if depth < 3:
            raise ValueError(f"DnCNN needs a depth of at least 3, got {depth}")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, features, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(features, features, 3, padding=1, bias=False), nn.BatchNorm2d(features),
                       nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(features, in_channels, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def noise(self, x: Tensor) -> Tensor:
        """The residual: the network's estimate of the noise in ``x``."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return x - self.body(x)


def dncnn(*, in_channels: int = 1, depth: int = 17, width: float = 1.0) -> DnCNN:
    """DnCNN-S (D = 17) by default; ``depth=20`` is the paper's blind DnCNN-B; ``width`` scales the 64 filters."""
    return DnCNN(in_channels, depth=depth, features=max(1, round(64 * width)))


def add_noise(images: Tensor, sigma: float | Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """``images`` (floats on the 0-1 scale) plus Gaussian noise of standard deviation ``sigma`` / 255,
    not clipped (the noise model DnCNN is trained and measured on). ``sigma`` may be one per image."""
    sigma = torch.as_tensor(sigma, dtype=images.dtype)
    if sigma.ndim == 1:
        sigma = sigma.view(-1, *([1] * (images.ndim - 1)))
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype)
    return images + noise * sigma / 255.0


def denoise_image(model: nn.Module, image: np.ndarray, *, batch_channels: bool = True) -> np.ndarray:
    """Denoise a float image (H x W or H x W x C, 0-1 scale); a one-channel model runs on each channel."""
    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
    planes = x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[:, None]
    with torch.inference_mode():
        if batch_channels:
            out = model(planes)
        else:
            out = torch.cat([model(plane[None]) for plane in planes])
    out = out[:, 0]
    return out[0].numpy() if x.ndim == 2 else out.permute(1, 2, 0).numpy()


def psnr(clean: np.ndarray, estimate: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of ``estimate`` against ``clean`` (both on the 0-1 scale)."""
    mse = float(np.mean((np.clip(estimate, 0, 1) - clean) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(1.0 / mse))
