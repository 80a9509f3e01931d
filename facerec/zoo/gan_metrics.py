"""Offline measures of a generator: Frechet distance in a zoo classifier's features, the classifier's
label distribution over samples (mode coverage), and each sample's nearest training image (copying).

The Frechet distance is the FID recipe (Heusel et al. 2017) with Inception-v3 replaced by a network
that is here without downloads: a zoo checkpoint such as LeNet-5 trained on MNIST, whose features are
the input of its last layer (84 values for LeNet-5). Its numbers are not comparable with published FIDs;
the distance between two sets of real images gives the floor that finite samples leave.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> a, b = rng.normal(size=(2000, 4)), rng.normal(size=(2000, 4)) + 1.0
>>> round(frechet_distance(a, a), 6), 3.8 < frechet_distance(a, b) < 4.3   # shift of 1 in 4 dimensions
(0.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from facerec.errors import FaceRecError

__all__ = ["ClassifierFeatures", "frechet_distance", "label_counts", "nearest_neighbours"]


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """``||mu_x - mu_y||^2 + Tr(S_x + S_y - 2 (S_x S_y)^(1/2))`` of two N x D feature sets."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(len(x), len(y)) < 2:
        raise FaceRecError(f"need two N x D feature sets with N >= 2, got {x.shape} and {y.shape}")
    mu_x, mu_y = x.mean(0), y.mean(0)
    cov_x, cov_y = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    # Tr((S_x S_y)^(1/2)) = sum of sqrt(eigenvalues of S_x^(1/2) S_y S_x^(1/2)), a symmetric PSD matrix:
    # stable where S_x S_y is singular (ReLU features with dead units), unlike a general matrix square root.
    values, vectors = np.linalg.eigh(cov_x)
    half = (vectors * np.sqrt(values.clip(0))) @ vectors.T
    trace_root = np.sqrt(np.linalg.eigvalsh(half @ cov_y @ half).clip(0)).sum()
    return float(((mu_x - mu_y) ** 2).sum() + np.trace(cov_x) + np.trace(cov_y) - 2 * trace_root)


@dataclass(frozen=True, eq=False)
class ClassifierFeatures:
    """A trained zoo classifier used as a feature extractor: features are the input of its last layer."""

    model: nn.Module
    head: nn.Module
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    input_size: tuple[int, int]

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> ClassifierFeatures:
        from facerec.zoo.registry import get_spec
        from facerec.zoo.transfer import load_checkpoint

        checkpoint = load_checkpoint(path)
        model = checkpoint.build().eval()
        head = dict(model.named_modules())[get_spec(checkpoint.arch).heads[0]]
        return cls(model, head, checkpoint.mean, checkpoint.std, checkpoint.classes,
                   (checkpoint.input_size[0], checkpoint.input_size[1]))

    def __call__(self, images: Tensor, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """(features N x D, logits N x classes) of uint8 images N x C x H x W at the checkpoint's size."""
        if tuple(images.shape[2:]) != self.input_size:
            raise FaceRecError(f"the classifier takes {self.input_size} images, not {tuple(images.shape[2:])}")
        captured: list[Tensor] = []
        handle = self.head.register_forward_pre_hook(lambda _m, inputs: captured.append(inputs[0]))
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        logits = []
        try:
            with torch.inference_mode():
                for chunk in images.split(batch_size):
                    logits.append(self.model((chunk.float() / 255 - mean) / std))
        finally:
            handle.remove()
        return torch.cat(captured).numpy(), torch.cat(logits).numpy()


def label_counts(logits: np.ndarray, num_classes: int) -> np.ndarray:
    """How many samples the classifier puts in each class."""
    return np.bincount(np.asarray(logits).argmax(1), minlength=num_classes)


def nearest_neighbours(samples: Tensor, pool: Tensor, *, exclude_self: bool = False,
                       batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """For each uint8 image in ``samples``, the index of the closest image in ``pool`` and the RMS pixel
    distance to it (on a 0-1 scale). ``exclude_self`` (samples is pool) skips the image itself.
    """
    a = samples.flatten(1).float() / 255
    b = pool.flatten(1).float() / 255
    if a.shape[1] != b.shape[1]:
        raise FaceRecError("samples and pool images must have the same shape")
    indices, distances = [], []
    b_sq = (b * b).sum(1)
    for start in range(0, len(a), batch_size):
        chunk = a[start : start + batch_size]
        d2 = (chunk * chunk).sum(1, keepdim=True) + b_sq[None] - 2 * chunk @ b.T
        if exclude_self:
            rows = torch.arange(len(chunk))
            d2[rows, rows + start] = float("inf")
        best, index = d2.clamp_min(0).min(1)
        indices.append(index)
        distances.append((best / a.shape[1]).sqrt())
    return torch.cat(indices).numpy(), torch.cat(distances).numpy()
