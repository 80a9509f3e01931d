"""MobileFaceNet (Chen et al. 2018), laid out so that the state_dict of
github.com/foamliu/MobileFaceNet loads with ``strict=True``.

Blocks first, then the model, then the builder.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["MobileFaceNet", "mobilefacenet"]

# (expansion t, output channels c, repeats n, first stride s), as in the paper's Table 1.
_BOTTLENECKS = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))


class ConvBNReLU6(nn.Sequential):
    """Convolution, batch norm, ReLU6 (keys ``0``, ``1``, ``2``)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class DepthwiseSeparable(nn.Module):
    """Depthwise 3x3 then pointwise 1x1, each followed by batch norm and ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.pointwise = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.depthwise(x)))
        return self.relu(self.bn2(self.pointwise(x)))


class GlobalDepthwise(nn.Module):
    """The global depthwise convolution (7x7 over the 7x7 map) that replaces pooling."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 7, groups=channels, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.depthwise(x))


class Bottleneck(nn.Module):
    """MobileNetV2 inverted residual: expand 1x1, depthwise 3x3, project 1x1 (linear)."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.residual = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            ConvBNReLU6(cin, hidden, kernel=1),
            ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileFaceNet(nn.Module):
    """112x112 RGB face in, ``embedding_size`` vector out (not normalised)."""

    def __init__(self, embedding_size: int = 128) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU6(3, 64, stride=2)
        self.dw_conv = DepthwiseSeparable(64)
        blocks: list[nn.Module] = []
        channels = 64
        for expansion, cout, repeats, stride in _BOTTLENECKS:
            for i in range(repeats):
                blocks.append(Bottleneck(channels, cout, stride if i == 0 else 1, expansion))
                channels = cout
        self.features = nn.Sequential(*blocks)
        self.conv2 = ConvBNReLU6(channels, 512, kernel=1)
        self.gdconv = GlobalDepthwise(512)
        self.conv3 = nn.Conv2d(512, embedding_size, 1)
        self.bn = nn.BatchNorm2d(embedding_size)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(self.dw_conv(self.conv1(x)))
        x = self.bn(self.conv3(self.gdconv(self.conv2(x))))
        return x.flatten(1)


def mobilefacenet(*, embedding_size: int = 128) -> MobileFaceNet:
    """Build an untrained MobileFaceNet; load weights with :func:`facerec.models.get_model`."""
    return MobileFaceNet(embedding_size=embedding_size)
