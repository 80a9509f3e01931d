"""Feature networks for neural style transfer: which network, which layers, which preprocessing.

Gatys et al. used VGG-19 trained on ImageNet. Its weights come from torchvision's address and are
checked against torchvision's hash prefix; offline, without the file, :func:`get_feature_net` raises
:class:`~facerec.errors.WeightsNotFoundError` saying where to put it. Without them facerec still has
networks of its own: the face embedder MobileFaceNet (trained, on faces), the zoo's VGG-16 with random
weights (random convolutions still capture texture statistics), and any zoo checkpoint.

>>> net = get_feature_net("vgg16-random")
>>> net.content_layer, net.style_layers[:2]
('conv4_2', ('conv1_1', 'conv2_1'))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from facerec.errors import UnknownModelError, WeightsHashError
from facerec.models.weights import IMAGENET_MEAN, IMAGENET_STD, WeightsFile, resolve_weights, sha256_file

__all__ = ["FEATURE_NETS", "VGG19_IMAGENET", "FeatureNet", "get_feature_net", "vgg_layer_names"]

#: torchvision's VGG19_Weights.IMAGENET1K_V1: the file name ends with the first 8 hex digits of its sha256.
VGG19_IMAGENET = WeightsFile(model="vgg19", tag="imagenet1k-v1", filename="vgg19-dcbb9e9d.pth",
                             url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", sha256=None,
                             license="BSD-3-Clause (torchvision)", note="Simonyan & Zisserman 2014, ImageNet")
_VGG19_HASH_PREFIX = "dcbb9e9d"
_GATYS_STYLE = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
FEATURE_NETS = ("vgg19", "vgg16-random", "mobilefacenet")


class _Enough(Exception):
    """Raised by a hook once every requested layer has been seen, to skip the rest of the network."""


@dataclass(frozen=True, eq=False)
class FeatureNet:
    """A frozen network in eval mode, its input normalisation, layer aliases and default layers.

    ``features(x, layers)`` takes RGB pixels in [0, 1] (N x 3 x H x W) and returns the activations of
    ``layers`` (aliases such as ``conv4_2`` or module paths such as ``features.3``).
    """

    name: str
    module: nn.Module
    mean: tuple[float, ...]
    std: tuple[float, ...]
    aliases: dict[str, str]
    content_layer: str
    style_layers: tuple[str, ...]
    description: str

    def layer_names(self) -> list[str]:
        """Every name ``features`` accepts: the aliases, then the module paths."""
        return list(self.aliases) + [name for name, _ in self.module.named_modules() if name]

    def features(self, x: Tensor, layers: tuple[str, ...] | list[str]) -> dict[str, Tensor]:
        paths = {layer: self._path(layer) for layer in layers}
        modules = dict(self.module.named_modules())
        wanted = set(paths.values())
        found: dict[str, Tensor] = {}

        def keep(path: str):
            def hook(_module: nn.Module, _inputs: object, output: Tensor) -> None:
                found[path] = output
                if wanted <= set(found):
                    raise _Enough

            return hook

        handles = [modules[path].register_forward_hook(keep(path)) for path in wanted]
        try:
            self.module(self._normalise(x))
        except _Enough:
            pass
        finally:
            for handle in handles:
                handle.remove()
        return {layer: found[path] for layer, path in paths.items()}

    def _path(self, layer: str) -> str:
        path = self.aliases.get(layer, layer)
        if path not in dict(self.module.named_modules()) or not path:
            known = ", ".join(self.aliases) or "module paths such as " + ", ".join(self.layer_names()[:5])
            raise UnknownModelError(f"{self.name} has no layer {layer!r}; known: {known}")
        return path

    def _normalise(self, x: Tensor) -> Tensor:
        channels = len(self.mean)
        if channels == 1 and x.shape[1] == 3:
            x = x.mean(1, keepdim=True)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std


def vgg_layer_names(features: nn.Sequential) -> dict[str, str]:
    """``conv1_1``, ``relu1_1``, ..., ``pool1`` for the layers of a torchvision VGG ``features`` block.

    ``convB_I`` names the activation *after* its ReLU, as Gatys et al. use it; ``convB_I_linear`` the
    convolution's own output.
    """
    names, block, index = {}, 1, 1
    for position, layer in enumerate(features):
        if isinstance(layer, nn.Conv2d):
            names[f"conv{block}_{index}_linear"] = f"features.{position}"
        elif isinstance(layer, nn.ReLU):
            names[f"conv{block}_{index}"] = f"features.{position}"
            index += 1
        elif isinstance(layer, nn.MaxPool2d):
            names[f"pool{block}"] = f"features.{position}"
            block, index = block + 1, 1
    return names


def get_feature_net(name: str, *, seed: int = 0, download: bool | None = None,
                    weights: str | Path | None = None) -> FeatureNet:
    """``vgg19`` (ImageNet weights), ``vgg16-random``, ``mobilefacenet``, or a zoo checkpoint path.

    ``weights`` is a VGG-19 state-dict file of the caller's own (torchvision's layout); without it the
    published file is looked for by name (torch's hub cache, ``FACEREC_WEIGHTS_DIR``, facerec's cache),
    then downloaded unless ``download`` is False or ``FACEREC_OFFLINE=1``.
    """
    if weights is not None and name != "vgg19":
        raise UnknownModelError(f"weights files are for --net vgg19 only, not {name!r}")
    if name == "vgg19":
        net = _vgg(_vgg19_imagenet(download, weights), "vgg19", "VGG-19 with ImageNet weights (Gatys et al.)")
    elif name == "vgg16-random":
        torch.manual_seed(seed)
        net = _vgg(_vgg_features("D"), "vgg16-random", f"VGG-16's convolutions, random weights (seed {seed})")
    elif name == "mobilefacenet":
        net = _mobilefacenet()
    elif Path(name).suffix == ".pt" and Path(name).is_file():
        net = _checkpoint(Path(name))
    else:
        raise UnknownModelError(f"unknown feature network {name!r}; known: {', '.join(FEATURE_NETS)} "
                                "or the path of a zoo checkpoint (.pt)")
    net.module.eval().requires_grad_(False)
    return net


def _vgg_features(config: str) -> nn.Sequential:
    """The convolutional part of torchvision's VGG (``D``: VGG-16, ``E``: VGG-19), initialised as torchvision
    does (He normal, fan out); the 120M-parameter classifier is never built."""
    from torchvision.models.vgg import cfgs, make_layers

    features = make_layers(cfgs[config])
    for layer in features:
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return features


def _vgg(features: nn.Sequential, name: str, description: str) -> FeatureNet:
    aliases = vgg_layer_names(features)
    container = nn.Sequential()
    container.add_module("features", features)  # module paths stay "features.N"; the classifier is dropped
    return FeatureNet(name, container, IMAGENET_MEAN, IMAGENET_STD, aliases, "conv4_2", _GATYS_STYLE, description)


def _vgg19_imagenet(download: bool | None, weights: str | Path | None) -> nn.Sequential:
    hub = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_IMAGENET.filename
    if weights is not None:
        path = resolve_weights(VGG19_IMAGENET, weights)  # the caller's own file: no published hash to match
    else:
        path = hub if hub.is_file() else resolve_weights(VGG19_IMAGENET, download=download)
    if weights is None and not sha256_file(path).startswith(_VGG19_HASH_PREFIX):
        raise WeightsHashError(f"{path} is not torchvision's VGG-19 (sha256 does not start with {_VGG19_HASH_PREFIX})")
    state = torch.load(path, map_location="cpu", weights_only=True)
    features = _vgg_features("E")
    features.load_state_dict({k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")})
    return features


def _mobilefacenet() -> FeatureNet:
    from facerec.models import get_model

    embedder = get_model("mobilefacenet")
    net: Any = embedder.net
    aliases = {"conv1": "conv1", "dw_conv": "dw_conv"}
    aliases.update({f"block{i}": f"features.{i}" for i in range(len(net.features))})
    aliases["conv2"] = "conv2"
    return FeatureNet("mobilefacenet", net, embedder.weights.mean, embedder.weights.std, aliases, "block6",
                      ("conv1", "dw_conv", "block2", "block6", "block12"),
                      "the face embedder MobileFaceNet (trained on faces)")


def _checkpoint(path: Path) -> FeatureNet:
    from facerec.zoo.transfer import load_checkpoint

    checkpoint = load_checkpoint(path)
    model = checkpoint.build()
    convs = [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
    if not convs:
        raise UnknownModelError(f"{path} has no convolution layers to take features from")
    return FeatureNet(f"{checkpoint.arch}:{path.name}", model, checkpoint.mean, checkpoint.std, {},
                      convs[len(convs) // 2], tuple(convs[: min(5, len(convs))]),
                      f"zoo checkpoint {path} ({checkpoint.arch})")
