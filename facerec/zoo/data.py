"""Image classification data for the zoo: MNIST, scikit-learn's 8x8 digits, AT&T faces, any folder tree.

Every source comes back as :class:`ImageData`: uint8 tensors ``N x C x H x W`` resized (or, for MNIST,
zero-padded as LeNet-5 wants) to the requested size, with a train part and a test part. MNIST has its
official 10k test set; the others are split per class, by a seed, either ``train_per_class`` images of
each class for training (the AT&T "k photos per person" protocol) or a ``test_fraction`` of each class.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from facerec.errors import DatasetError
from facerec.io import IMAGE_SUFFIXES

__all__ = ["BUILTIN", "ImageData", "data_root", "load_data", "read_folder_tree", "read_idx", "split_indices"]

BUILTIN = ("mnist", "digits", "att")


@dataclass(frozen=True)
class ImageData:
    """Train and test images (uint8, N x C x H x W), integer labels, and the class names."""

    name: str
    classes: tuple[str, ...]
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor

    @property
    def channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.train_x.shape[2]), int(self.train_x.shape[3])


def data_root() -> Path:
    """Where the bundled datasets live: ``FACEREC_DATA_DIR``, else ``$FACEREC_SHARED/data`` (the variable the
    tests, scripts and demo read), else ``../shared/data`` of the checkout."""
    if "FACEREC_DATA_DIR" in os.environ:
        return Path(os.environ["FACEREC_DATA_DIR"])
    if os.environ.get("FACEREC_SHARED"):
        return Path(os.environ["FACEREC_SHARED"]) / "data"
    checkout = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return checkout if checkout.is_dir() else Path.cwd().parent / "shared" / "data"


def load_data(source: str, *, size: tuple[int, int] | None = None, channels: int | None = None,
              train_per_class: int | None = None, test_fraction: float = 0.2, seed: int = 0) -> ImageData:
    """Load ``mnist``, ``digits``, ``att`` or a folder-per-class tree at path ``source``.

    >>> data = load_data("digits", size=(8, 8))
    >>> data.train_x.shape[1:], len(data.classes)
    (torch.Size([1, 8, 8]), 10)
    """
    if source == "mnist":
        root = data_root() / "mnist"
        train_x = read_idx(root / "train-images.idx3-ubyte.gz")
        train_y = read_idx(root / "train-labels.idx1-ubyte.gz")
        test_x = read_idx(root / "t10k-images.idx3-ubyte.gz")
        test_y = read_idx(root / "t10k-labels.idx1-ubyte.gz")
        return ImageData("mnist", tuple(map(str, range(10))), _fit(train_x[:, None], size, channels, pad=True),
                         torch.from_numpy(train_y.astype(np.int64)),
                         _fit(test_x[:, None], size, channels, pad=True), torch.from_numpy(test_y.astype(np.int64)))
    if source == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise DatasetError("the digits data set ships with scikit-learn: pip install 'facerec[zoo]'") from None
        bunch = load_digits()
        images = np.round(bunch.images * (255 / 16)).astype(np.uint8)[:, None]
        classes = tuple(map(str, range(10)))
        return _split("digits", classes, _fit(images, size, channels), bunch.target, train_per_class,
                      test_fraction, seed)
    folder = data_root() / "att_faces" if source == "att" else Path(source)
    images, labels, classes = read_folder_tree(folder)
    return _split(source if source == "att" else folder.name, classes, _fit(images, size, channels), labels,
                  train_per_class, test_fraction, seed)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not, as a numpy array."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"IDX file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DatasetError(f"{path} is truncated: expected {int(np.prod(dims))} values, found {data.size}")
    return data.reshape(dims).copy()


def read_folder_tree(folder: str | Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Images of ``folder/<class>/<image>`` as ``N x C x H x W`` uint8 (all at the first image's size)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"dataset folder not found: {folder}")
    classes = tuple(sorted((d.name for d in folder.iterdir() if d.is_dir()), key=_natural))
    files = [(label, f) for label, name in enumerate(classes)
             for f in sorted((folder / name).iterdir(), key=lambda p: _natural(p.name))
             if f.suffix.lower() in IMAGE_SUFFIXES]
    if len(classes) < 2 or not files:
        raise DatasetError(f"{folder} needs at least two class folders holding images")
    pictures = [Image.open(path) for _, path in files]
    mode = "L" if all(p.mode in ("L", "1", "I;16", "I") for p in pictures) else "RGB"
    size = pictures[0].size
    arrays = [np.asarray(p.convert(mode).resize(size, Image.Resampling.BILINEAR)) for p in pictures]
    images = np.stack(arrays)[:, None] if mode == "L" else np.stack(arrays).transpose(0, 3, 1, 2)
    return images, np.array([label for label, _ in files]), classes


def _natural(name: str) -> tuple:
    """Sort key putting s2 before s10 and 2.pgm before 10.pgm."""
    stem = Path(name).stem
    digits = "".join(ch for ch in stem if ch.isdigit())
    return (stem.rstrip("0123456789"), int(digits) if digits else -1, name)


def _fit(images: np.ndarray, size: tuple[int, int] | None, channels: int | None, pad: bool = False) -> Tensor:
    """To ``channels`` (grey repeated or RGB averaged) and ``size``: centred zero padding or bilinear."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    if channels is not None and channels != x.shape[1]:
        if x.shape[1] == 1:
            x = x.repeat(1, channels, 1, 1)
        elif channels == 1:
            x = x.float().mean(1, keepdim=True).round().to(torch.uint8)
        else:
            raise DatasetError(f"cannot turn {x.shape[1]}-channel images into {channels} channels")
    if size is None or tuple(x.shape[2:]) == tuple(size):
        return x
    grow_h, grow_w = size[0] - x.shape[2], size[1] - x.shape[3]
    if pad and grow_h >= 0 and grow_w >= 0:
        return F.pad(x, (grow_w // 2, grow_w - grow_w // 2, grow_h // 2, grow_h - grow_h // 2))
    resized = F.interpolate(x.float(), size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    return resized.round().clamp(0, 255).to(torch.uint8)


def split_indices(labels: np.ndarray, num_classes: int, *, train_per_class: int | None = None,
                  test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-class split: ``train_per_class`` images of each class (or all but ``test_fraction``)
    for training, the rest for testing. Returns sorted (train, test) index arrays.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train_idx: list[int] = []
    test_idx: list[int] = []
    for label in range(num_classes):
        members = rng.permutation(np.flatnonzero(labels == label))
        if train_per_class is not None:
            if not 0 < train_per_class < len(members):
                raise DatasetError(f"class {label} has {len(members)} images; "
                                   f"cannot train on {train_per_class} and test on the rest")
            cut = train_per_class
        else:
            cut = len(members) - max(1, round(len(members) * test_fraction))
        train_idx.extend(members[:cut])
        test_idx.extend(members[cut:])
    return np.sort(np.asarray(train_idx, dtype=np.int64)), np.sort(np.asarray(test_idx, dtype=np.int64))


def _split(name: str, classes: tuple[str, ...], images: Tensor, labels: np.ndarray, train_per_class: int | None,
           test_fraction: float, seed: int) -> ImageData:
    train_idx, test_idx = split_indices(labels, len(classes), train_per_class=train_per_class,
                                        test_fraction=test_fraction, seed=seed)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return ImageData(name, classes, images[train_idx], y[train_idx], images[test_idx], y[test_idx])
