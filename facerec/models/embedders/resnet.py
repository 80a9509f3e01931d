"""ResNet-18/50 face embedders: a torchvision ResNet trunk and a 128-d embedding head.

These have no published face weights: they are trained with ``facerec train`` (triplet
loss) and loaded by path (``--weights``). The input is an aligned 112x112 crop, resized
inside the network to ``input_size``; with ``standardize`` each image is first scaled to zero
mean and unit variance (FaceNet's "prewhitening"), which removes global lighting differences.
Both are persistent buffers, so a checkpoint reloads with the settings it was trained with.

Blocks first, then the model, then the builders.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ResNetEmbedder", "resnet18", "resnet50"]


class ResNetEmbedder(nn.Module):
    """torchvision ResNet without its classifier, then linear + batch norm to ``embedding_size``."""

    def __init__(
        self, trunk: nn.Module, features: int, *, embedding_size: int = 128, input_size: int = 112,
        standardize: bool = False,
    ) -> None:
        super().__init__()
        trunk.fc = nn.Identity()
        self.trunk = trunk
        self.embedding = nn.Linear(features, embedding_size)
        self.bn = nn.BatchNorm1d(embedding_size)
        self.input_size: Tensor
        self.standardize: Tensor
        self.register_buffer("input_size", torch.tensor(input_size, dtype=torch.long))
        self.register_buffer("standardize", torch.tensor(int(standardize), dtype=torch.long))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # Checkpoints written before ``standardize`` existed did not standardise.
        state_dict.setdefault(f"{prefix}standardize", torch.tensor(0, dtype=torch.long))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        if int(self.standardize):
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) / x.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-3)
        size = int(self.input_size)
        if x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return self.bn(self.embedding(self.trunk(x)))


def resnet18(*, embedding_size: int = 128, input_size: int = 112, standardize: bool = False) -> ResNetEmbedder:
    """ResNet-18 embedder, randomly initialised."""
    from torchvision.models import resnet18 as build

    return ResNetEmbedder(build(weights=None), 512, embedding_size=embedding_size, input_size=input_size,
                          standardize=standardize)


def resnet50(*, embedding_size: int = 128, input_size: int = 112, standardize: bool = False) -> ResNetEmbedder:
    """ResNet-50 embedder, randomly initialised."""
    from torchvision.models import resnet50 as build

    return ResNetEmbedder(build(weights=None), 2048, embedding_size=embedding_size, input_size=input_size,
                          standardize=standardize)
