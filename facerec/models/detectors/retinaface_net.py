"""The RetinaFace MobileNet-0.25 network (PyTorch), laid out so that ``mobilenet0.25_Final.pth`` from
biubug6's implementation (MIT) loads with ``strict=True``.

Kept apart from :mod:`facerec.models.detectors.retinaface` (decoding and the detector, numpy and
onnxruntime) so that detection with the ONNX export never imports torch: this module is loaded only to
export the network the first time, or for ``backend="torch"``. Blocks first, then the network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["RetinaFaceNet", "MobileNetV1Body", "FPN", "SSH", "Head", "LEVELS"]

#: Feature levels (strides 8, 16 and 32), each with its own heads.
LEVELS = 3


def _conv_bn(cin: int, cout: int, *, kernel: int = 3, stride: int = 1, leaky: float | None = 0.0) -> nn.Sequential:
    """Convolution and batch norm (keys ``0``, ``1``), then a leaky ReLU unless ``leaky`` is None."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    if leaky is not None:
        layers.append(nn.LeakyReLU(leaky, inplace=True))
    return nn.Sequential(*layers)


def _conv_dw(cin: int, cout: int, stride: int) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1, each with batch norm and a leaky ReLU (slope 0.1)."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.LeakyReLU(0.1, inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1, inplace=True),
    )


class MobileNetV1Body(nn.Module):
    """MobileNet-0.25 up to its last stage; returns the maps at strides 8, 16 and 32."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            _conv_bn(3, 8, stride=2, leaky=0.1), _conv_dw(8, 16, 1), _conv_dw(16, 32, 2),
            _conv_dw(32, 32, 1), _conv_dw(32, 64, 2), _conv_dw(64, 64, 1),
        )
        self.stage2 = nn.Sequential(_conv_dw(64, 128, 2), *(_conv_dw(128, 128, 1) for _ in range(5)))
        self.stage3 = nn.Sequential(_conv_dw(128, 256, 2), _conv_dw(256, 256, 1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c3 = self.stage1(x)
        c4 = self.stage2(c3)
        return c3, c4, self.stage3(c4)


class FPN(nn.Module):
    """Feature pyramid: 1x1 lateral convolutions, nearest upsampling, 3x3 merges."""

    def __init__(self, in_channels: tuple[int, int, int], out_channels: int) -> None:
        super().__init__()
        self.output1, self.output2, self.output3 = (
            _conv_bn(cin, out_channels, kernel=1, leaky=0.1) for cin in in_channels
        )
        self.merge1 = _conv_bn(out_channels, out_channels, leaky=0.1)
        self.merge2 = _conv_bn(out_channels, out_channels, leaky=0.1)

    def forward(self, maps: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        out1, out2, out3 = self.output1(maps[0]), self.output2(maps[1]), self.output3(maps[2])
        # the size is read from the tensor, so an ONNX export keeps height and width dynamic
        out2 = self.merge2(out2 + F.interpolate(out3, size=out2.shape[-2:], mode="nearest"))
        out1 = self.merge1(out1 + F.interpolate(out2, size=out1.shape[-2:], mode="nearest"))
        return out1, out2, out3


class SSH(nn.Module):
    """Single-stage headless context module: 3x3, 5x5 and 7x7 receptive fields, concatenated."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv3X3 = _conv_bn(cin, cout // 2, leaky=None)
        self.conv5X5_1 = _conv_bn(cin, cout // 4, leaky=0.1)
        self.conv5X5_2 = _conv_bn(cout // 4, cout // 4, leaky=None)
        self.conv7X7_2 = _conv_bn(cout // 4, cout // 4, leaky=0.1)
        self.conv7x7_3 = _conv_bn(cout // 4, cout // 4, leaky=None)

    def forward(self, x: Tensor) -> Tensor:
        branch = self.conv5X5_1(x)
        wide = self.conv7x7_3(self.conv7X7_2(branch))
        return F.relu(torch.cat([self.conv3X3(x), self.conv5X5_2(branch), wide], dim=1))


class Head(nn.Module):
    """A 1x1 convolution giving ``values`` numbers per anchor, flattened to N x anchors x values."""

    def __init__(self, cin: int, anchors: int, values: int) -> None:
        super().__init__()
        self.values = values
        self.conv1x1 = nn.Conv2d(cin, anchors * values, 1)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1x1(x).permute(0, 2, 3, 1)
        return out.reshape(out.shape[0], -1, self.values)


class RetinaFaceNet(nn.Module):
    """N x 3 x H x W (BGR minus ``BGR_MEAN``) in; ``(loc, conf, landms)`` out.

    ``loc`` is N x P x 4 box offsets, ``conf`` N x P x 2 softmaxed (column 1: face),
    ``landms`` N x P x 10 landmark offsets, for the P prior boxes of :func:`prior_boxes`.
    """

    def __init__(self, channels: int = 64, anchors: int = 2) -> None:
        super().__init__()
        self.body = MobileNetV1Body()
        self.fpn = FPN((64, 128, 256), channels)
        self.ssh1, self.ssh2, self.ssh3 = SSH(channels, channels), SSH(channels, channels), SSH(channels, channels)
        self.ClassHead = nn.ModuleList(Head(channels, anchors, 2) for _ in range(LEVELS))
        self.BboxHead = nn.ModuleList(Head(channels, anchors, 4) for _ in range(LEVELS))
        self.LandmarkHead = nn.ModuleList(Head(channels, anchors, 10) for _ in range(LEVELS))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        p3, p4, p5 = self.fpn(self.body(x))
        features = (self.ssh1(p3), self.ssh2(p4), self.ssh3(p5))
        loc = torch.cat([head(f) for head, f in zip(self.BboxHead, features)], dim=1)
        conf = torch.cat([head(f) for head, f in zip(self.ClassHead, features)], dim=1)
        landms = torch.cat([head(f) for head, f in zip(self.LandmarkHead, features)], dim=1)
        return loc, F.softmax(conf, dim=-1), landms
