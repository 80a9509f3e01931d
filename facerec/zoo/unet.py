"""U-Net (Ronneberger et al. 2015): an encoder-decoder with transpose convolutions and skip connections.

Each encoder level is two 3x3 conv + batch norm + ReLU, then a 2x2 max pool; the decoder goes back up
with 2x2 stride-2 transpose convolutions (``nn.ConvTranspose2d``), each output joined to the encoder
features of the same size (the skip connection) before two more 3x3 convolutions. A 1x1 convolution
gives per-pixel class scores. Unlike the paper the 3x3 convolutions are padded, so the output is as
large as the input and no cropping is needed. ``skip=False`` is the same network without the skips,
the plain encoder-decoder that the skips improve on. ``depth`` counts the pooling levels, ``width``
scales the paper's 64 first-level filters.

>>> model = unet(num_classes=11, in_channels=1, depth=4)
>>> sum(p.numel() for p in model.parameters())
31037131
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["UNet", "dice_loss", "unet", "unet_noskip"]


def _double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Per-pixel logits (N x classes x H x W) for inputs whose sides divide by 2 ** depth."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2, *, depth: int = 4, base: int = 64,
                 skip: bool = True) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"U-Net needs a depth of at least 1, got {depth}")
        self.skip = skip
        widths = [base * 2**level for level in range(depth + 1)]
        self.down = nn.ModuleList()
        channels = in_channels
        for width in widths[:-1]:
            self.down.append(_double_conv(channels, width))
            channels = width
        self.pool = nn.MaxPool2d(2)
        self.bottom = _double_conv(widths[-2], widths[-1])
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(width * 2, width, kernel_size=2, stride=2))
            self.merge.append(_double_conv(width * 2 if skip else width, width))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        side = 2 ** len(self.down)
        if x.shape[-2] % side or x.shape[-1] % side:
            raise ValueError(f"U-Net of depth {len(self.down)} needs sides divisible by {side}, "
                             f"got {tuple(x.shape[-2:])}")
        features = []
        for block in self.down:
            x = block(x)
            features.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, merge, skipped in zip(self.up, self.merge, reversed(features)):
            x = up(x)
            x = merge(torch.cat([skipped, x], dim=1) if self.skip else x)
        return self.head(x)


def unet(*, num_classes: int = 2, in_channels: int = 1, depth: int = 4, width: float = 1.0) -> UNet:
    """U-Net with skip connections; ``depth=4, width=1`` is the paper's 64-1024 filter layout."""
    return UNet(in_channels, num_classes, depth=depth, base=max(1, round(64 * width)), skip=True)


def unet_noskip(*, num_classes: int = 2, in_channels: int = 1, depth: int = 4, width: float = 1.0) -> UNet:
    """The same encoder-decoder without skip connections (the baseline the skips are measured against)."""
    return UNet(in_channels, num_classes, depth=depth, base=max(1, round(64 * width)), skip=False)


def dice_loss(logits: Tensor, target: Tensor, *, eps: float = 1.0) -> Tensor:
    """1 - the soft Dice coefficient, averaged over classes (present in the batch or predicted)."""
    probs = logits.softmax(1)
    onehot = torch.nn.functional.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    inter = (probs * onehot).sum((0, 2, 3))
    total = probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    return 1 - ((2 * inter + eps) / (total + eps)).mean()
