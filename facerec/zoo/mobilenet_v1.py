"""MobileNet v1 (Howard et al. 2017): a 3x3 stem, then 13 depthwise-separable blocks, global pooling.

The width multiplier ``alpha`` thins every layer: at 1.0 and 1,000 classes the net has about 4.2
million parameters, at 0.5 about 1.3 million (the paper's Table 6).
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["DepthwiseSeparable", "MobileNetV1", "mobilenet_v1"]

# (output channels, stride) of the 13 depthwise-separable blocks, as in the paper's Table 1.
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
           (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class DepthwiseSeparable(nn.Sequential):
    """A 3x3 depthwise convolution (one filter per channel) then a 1x1 pointwise one."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.depthwise = _conv_bn_relu(cin, cin, 3, stride, groups=cin)
        self.pointwise = _conv_bn_relu(cin, cout, 1, 1)


class MobileNetV1(nn.Module):
    """MobileNet v1 with width multiplier ``alpha`` (channels ``int(c * alpha)``)."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, *, alpha: float = 1.0,
                 dropout: float = 0.0) -> None:
        super().__init__()
        channels = int(32 * alpha)
        self.stem = _conv_bn_relu(in_channels, channels, 3, 2)
        blocks = []
        for cout, stride in _BLOCKS:
            blocks.append(DepthwiseSeparable(channels, int(cout * alpha), stride))
            channels = int(cout * alpha)
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.features(self.stem(x)))
        return self.fc(self.dropout(self.flatten(x)))


def mobilenet_v1(*, num_classes: int = 1000, in_channels: int = 3, width: float = 1.0,
                 dropout: float = 0.0) -> MobileNetV1:
    """Build MobileNet v1; ``width`` is the paper's width multiplier alpha."""
    return MobileNetV1(num_classes, in_channels, alpha=width, dropout=dropout)
