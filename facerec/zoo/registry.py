"""The zoo's registry: ``get_arch(name)``, ``list_archs()``, and what each architecture needs.

Kept apart from :mod:`facerec.models` on purpose: that registry holds face embedders with released
weights and their preprocessing, this one untrained classifiers of any size and class count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

from torch import nn

from facerec.errors import UnknownModelError
from facerec.zoo.dncnn import dncnn
from facerec.zoo.exercise_net import exercise_net
from facerec.zoo.face_classifier import mobilefacenet_classifier
from facerec.zoo.googlenet import googlenet
from facerec.zoo.lenet import lenet5, lenet5_relu
from facerec.zoo.mobilenet_v1 import mobilenet_v1
from facerec.zoo.torchvision_archs import (
    alexnet,
    mobilenet_v2,
    resnet18,
    resnet34,
    resnet50,
    vgg16,
)
from facerec.zoo.unet import unet, unet_noskip
from facerec.zoo.yolo import yolo_face

__all__ = ["ArchOptionError", "ArchOptions", "ArchSpec", "get_arch", "get_spec", "list_archs"]


class ArchOptionError(UnknownModelError):
    """An option (dropout, width) that the architecture does not have."""


class ArchOptions(TypedDict, total=False):
    """The builder options :func:`get_arch` passes on, as a checkpoint stores them (absent = default)."""

    dropout: float
    width: float
    depth: int


@dataclass(frozen=True)
class ArchSpec:
    """A registered architecture.

    ``input_size`` is its usual (H, W, C); ``heads`` the module paths of its classification layers,
    replaced for transfer learning; ``options`` the keyword options its builder takes.
    """

    name: str
    build: Callable[..., nn.Module]
    input_size: tuple[int, int, int]
    heads: tuple[str, ...]
    options: frozenset[str]
    description: str
    task: str = "classify"
    num_classes: int | None = None


def _spec(name, build, size, heads, options, description) -> ArchSpec:
    return ArchSpec(name, build, size, tuple(heads), frozenset(options), description)


_DROPOUT, _WIDTH, _DEPTH = "dropout", "width", "depth"
_SPECS = [
    _spec("lenet5", lenet5, (32, 32, 1), ["fc5"], [_DROPOUT], "LeNet-5, tanh + average pooling (1998)"),
    _spec("lenet5-relu", lenet5_relu, (32, 32, 1), ["fc5"], [_DROPOUT], "LeNet-5, ReLU + max pooling"),
    _spec("exercise", exercise_net, (28, 28, 1), ["fc"], [_DROPOUT], "Keras-style conv32-pool-conv64 net"),
    _spec("alexnet", alexnet, (224, 224, 3), ["classifier.6"], [_DROPOUT], "AlexNet (2012)"),
    _spec("vgg16", vgg16, (224, 224, 3), ["classifier.6"], [_DROPOUT], "VGG-16, configuration D (2014)"),
    _spec("googlenet", googlenet, (224, 224, 3), ["fc", "aux1.fc2", "aux2.fc2"], [_DROPOUT],
          "GoogLeNet / Inception v1 with two auxiliary classifiers (2014)"),
    _spec("resnet18", resnet18, (224, 224, 3), ["fc"], [], "ResNet-18, basic blocks (2015)"),
    _spec("resnet34", resnet34, (224, 224, 3), ["fc"], [], "ResNet-34, basic blocks (2015)"),
    _spec("resnet50", resnet50, (224, 224, 3), ["fc"], [], "ResNet-50, bottleneck blocks (2015)"),
    _spec("mobilenet_v1", mobilenet_v1, (224, 224, 3), ["fc"], [_DROPOUT, _WIDTH],
          "MobileNet v1, depthwise-separable convolutions, width multiplier (2017)"),
    _spec("mobilenet_v2", mobilenet_v2, (224, 224, 3), ["classifier.1"], [_DROPOUT, _WIDTH],
          "MobileNet v2, inverted residuals (2018)"),
    _spec("mobilefacenet", mobilefacenet_classifier, (112, 112, 3), ["fc"], [_DROPOUT],
          "MobileFaceNet backbone + linear head (the face embedder's architecture, untrained)"),
]
_SPECS += [  # the dense-prediction wing: output per pixel or per grid cell, not per image
    ArchSpec("dncnn", dncnn, (40, 40, 1), (), frozenset([_DEPTH, _WIDTH]),
             "DnCNN denoiser, residual learning, D=17 (Zhang et al. 2017)", task="denoise"),
    ArchSpec("unet", unet, (64, 64, 1), ("head",), frozenset([_DEPTH, _WIDTH]),
             "U-Net, transpose convolutions + skip connections (Ronneberger et al. 2015)", task="segment",
             num_classes=11),
    ArchSpec("unet-noskip", unet_noskip, (64, 64, 1), ("head",), frozenset([_DEPTH, _WIDTH]),
             "U-Net without skip connections (plain encoder-decoder baseline)", task="segment", num_classes=11),
    ArchSpec("yolo-face", yolo_face, (192, 192, 3), ("head",), frozenset([_WIDTH]),
             "YOLO-style face detector: 12x12 grid, 3 anchors, box + 5 landmarks per anchor", task="detect",
             num_classes=1),
]
_REGISTRY: dict[str, ArchSpec] = {spec.name: spec for spec in _SPECS}


def list_archs() -> list[str]:
    """Names accepted by :func:`get_arch`, sorted."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> ArchSpec:
    """The :class:`ArchSpec` of ``name``; an unknown name is an error listing the known ones."""
    if name not in _REGISTRY:
        raise UnknownModelError(f"unknown architecture {name!r}; known: {', '.join(list_archs())}")
    return _REGISTRY[name]


def get_arch(name: str, *, num_classes: int = 10, in_channels: int | None = None,
             dropout: float | None = None, width: float | None = None, depth: int | None = None) -> nn.Module:
    """Build architecture ``name`` untrained; options left as None keep the builder's defaults.

    ``depth`` is the number of layers (DnCNN) or of down-sampling levels (U-Net); a denoiser
    ignores ``num_classes``.

    >>> model = get_arch("lenet5", num_classes=10, in_channels=3)
    >>> sum(p.numel() for p in model.conv1.parameters())
    456
    """
    spec = get_spec(name)
    options = {key: value for key, value in (("dropout", dropout), ("width", width), ("depth", depth))
               if value is not None}
    unknown = set(options) - spec.options
    if unknown:
        raise ArchOptionError(f"{name} has no option {', '.join(sorted(unknown))}; "
                              f"it takes: {', '.join(sorted(spec.options)) or 'none'}")
    channels = spec.input_size[2] if in_channels is None else in_channels
    if spec.task == "denoise":
        return spec.build(in_channels=channels, **options)
    return spec.build(num_classes=num_classes, in_channels=channels, **options)
