"""Input-transformation defences: change the aligned crop before it is embedded.

Two are offered, both after Guo et al. (2018) and Xie et al. (2018):

* :class:`JpegDefence` re-encodes the crop as JPEG at ``quality``; deterministic. An attacker who
  knows it differentiates through it by the straight-through estimate (BPDA, Athalye et al. 2018).
* :class:`ResizePadDefence` shrinks the crop to a random side in ``[min_size, S]`` and pads it back
  to ``S`` at a random offset; the same ``seed`` gives the same output. It is differentiable, so an
  attacker who knows it averages gradients over random draws (EOT).

Each works on float tensors (``N x 3 x S x S`` in ``[0, 1]``) and on uint8 ``N x S x S x 3`` crops,
the form :meth:`FaceEmbedder.embed` takes, so a recognizer can apply one in front of ``embed``. The pipeline's
``--robust`` runs the JPEG one without torch, from :mod:`facerec.defence` (the same crops as ``JpegDefence``):

>>> defence = get_defence("jpeg")
>>> crops = np.zeros((2, 112, 112, 3), np.uint8)
>>> defence.transform_crops(crops).shape
(2, 112, 112, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from facerec.defence import jpeg_reencode
from facerec.robustness.errors import RobustnessError

__all__ = ["InputDefence", "JpegDefence", "ResizePadDefence", "DEFENCES", "get_defence"]


class InputDefence(Protocol):
    @property
    def name(self) -> str: ...

    def transform(self, pixels: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """The defended input (no gradient): float ``N x 3 x S x S`` in ``[0, 1]``."""
        ...

    def attack_view(self, pixels: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """What an adaptive attacker differentiates through in place of ``transform``."""
        ...

    def transform_crops(self, crops: np.ndarray) -> np.ndarray:
        """The defended uint8 ``N x S x S x 3`` crops."""
        ...


@dataclass(frozen=True)
class JpegDefence:
    """JPEG re-encoding at ``quality`` (1-95)."""

    quality: int = 75
    name: str = "jpeg"

    def __post_init__(self) -> None:
        if not isinstance(self.quality, int) or not 1 <= self.quality <= 95:
            raise RobustnessError(f"JPEG quality must be an integer in [1, 95], got {self.quality!r}")

    def transform_crops(self, crops: np.ndarray) -> np.ndarray:
        return jpeg_reencode(_check_crops(crops), self.quality)  # --robust's own (facerec.defence), no torch

    def transform(self, pixels: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        _check_pixels(pixels)
        crops = (pixels.detach() * 255).round().clamp(0, 255).byte().permute(0, 2, 3, 1).cpu().numpy()
        defended = torch.from_numpy(self.transform_crops(crops)).permute(0, 3, 1, 2)
        return defended.to(pixels.device, pixels.dtype) / 255.0

    def attack_view(self, pixels: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        # BPDA: JPEG's output on the way forward, the identity's gradient on the way back
        return pixels + (self.transform(pixels) - pixels).detach()


@dataclass(frozen=True)
class ResizePadDefence:
    """Random bilinear shrink to ``[min_size, S]`` pixels, then a random grey pad back to ``S``."""

    min_size: int = 100
    seed: int = 0
    fill: float = 0.5
    name: str = "resize"

    def __post_init__(self) -> None:
        if not isinstance(self.min_size, int) or self.min_size < 8:
            raise RobustnessError(f"min_size must be an integer >= 8, got {self.min_size!r}")

    def attack_view(self, pixels: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        _check_pixels(pixels)
        size = pixels.shape[-1]
        if self.min_size > size:
            raise RobustnessError(f"min_size {self.min_size} is larger than the crop ({size})")
        if generator is None:
            generator = torch.Generator().manual_seed(self.seed)
        draws = torch.randint(0, 1 << 30, (len(pixels), 3), generator=generator).tolist()
        out = []
        for image, (a, b, c) in zip(pixels, draws):
            side = self.min_size + a % (size - self.min_size + 1)
            small = F.interpolate(image[None], size=(side, side), mode="bilinear", align_corners=False)
            left, top = b % (size - side + 1), c % (size - side + 1)
            pad = (left, size - side - left, top, size - side - top)
            out.append(F.pad(small, pad, value=self.fill))
        return torch.cat(out) if out else pixels

    def transform(self, pixels: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        with torch.no_grad():
            return self.attack_view(pixels.detach(), generator=generator)

    def transform_crops(self, crops: np.ndarray) -> np.ndarray:
        crops = _check_crops(crops)
        pixels = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 255.0
        out = (self.transform(pixels) * 255).round().clamp(0, 255).byte()
        return out.permute(0, 2, 3, 1).numpy()


DEFENCES: dict[str, type] = {"jpeg": JpegDefence, "resize": ResizePadDefence}


def get_defence(name: str, **options: int | float) -> InputDefence:
    """The defence called ``name`` (``jpeg`` or ``resize``) with its options."""
    if name not in DEFENCES:
        raise RobustnessError(f"unknown defence {name!r}; known: {', '.join(DEFENCES)}")
    return DEFENCES[name](**options)


def _check_pixels(pixels: Tensor) -> None:
    if not isinstance(pixels, Tensor) or not pixels.is_floating_point() or pixels.dim() != 4 or pixels.shape[1] != 3:
        raise RobustnessError("pixels must be a float tensor N x 3 x S x S in [0, 1]")


def _check_crops(crops: np.ndarray) -> np.ndarray:
    crops = np.asarray(crops)
    if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[-1] != 3:
        raise RobustnessError(f"crops must be uint8 N x S x S x 3, got {crops.dtype} {crops.shape}")
    return crops
