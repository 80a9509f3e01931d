"""torchvision's AlexNet, VGG-16, ResNet-18/34/50 and MobileNet v2, untrained, for any channel count.

torchvision's builders fix 3 input channels; for grayscale data the first convolution is rebuilt with
``in_channels`` inputs and otherwise identical settings.
"""

from __future__ import annotations

from torch import nn
from torchvision import models

__all__ = ["alexnet", "mobilenet_v2", "resnet18", "resnet34", "resnet50", "set_in_channels", "vgg16"]


def set_in_channels(model: nn.Module, path: str, in_channels: int) -> nn.Module:
    """Replace the convolution at ``path`` (dotted module path) by one taking ``in_channels``."""
    if in_channels == 3:
        return model
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    old: nn.Conv2d = getattr(parent, name)
    new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding,  # type: ignore[arg-type]
                    old.dilation, old.groups, old.bias is not None)  # type: ignore[arg-type]
    setattr(parent, name, new)
    return model


def alexnet(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> nn.Module:
    """AlexNet (Krizhevsky et al. 2012), torchvision's single-tower version: 61.1 M parameters."""
    return set_in_channels(models.alexnet(num_classes=num_classes, dropout=dropout), "features.0", in_channels)


def vgg16(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> nn.Module:
    """VGG-16 (Simonyan and Zisserman 2014), configuration D: 138.4 M parameters."""
    return set_in_channels(models.vgg16(num_classes=num_classes, dropout=dropout), "features.0", in_channels)


def resnet18(*, num_classes: int = 1000, in_channels: int = 3) -> nn.Module:
    """ResNet-18 (He et al. 2015): basic residual blocks [2, 2, 2, 2]."""
    return set_in_channels(models.resnet18(num_classes=num_classes), "conv1", in_channels)


def resnet34(*, num_classes: int = 1000, in_channels: int = 3) -> nn.Module:
    """ResNet-34: basic residual blocks [3, 4, 6, 3]."""
    return set_in_channels(models.resnet34(num_classes=num_classes), "conv1", in_channels)


def resnet50(*, num_classes: int = 1000, in_channels: int = 3) -> nn.Module:
    """ResNet-50: bottleneck residual blocks [3, 4, 6, 3]."""
    return set_in_channels(models.resnet50(num_classes=num_classes), "conv1", in_channels)


def mobilenet_v2(*, num_classes: int = 1000, in_channels: int = 3, width: float = 1.0,
                 dropout: float = 0.2) -> nn.Module:
    """MobileNet v2 (Sandler et al. 2018): inverted residuals with linear bottlenecks."""
    model = models.mobilenet_v2(num_classes=num_classes, width_mult=width, dropout=dropout)
    return set_in_channels(model, "features.0.0", in_channels)
