"""Segmentation data with real per-pixel labels, offline: MNIST digits on textured canvases (M2NIST).

Each canvas holds one to ``max_digits`` MNIST digits, at random scales and places that do not overlap,
over a background of smooth blotches and stripes. Each pixel is labelled with its digit's class
(0-9) where the digit's stroke is, and background (10) elsewhere. Training canvases use digits of
MNIST's training set, test canvases digits of its test set, so the test digits are never seen.
Everything follows from the seed. Any folder ``images/NAME.png`` + ``masks/NAME.png`` (class ids as
pixel values) can stand in for the canvases.

>>> images, masks = make_canvases("test", 2, seed=0)
>>> images.shape, masks.shape, int(masks.max())
(torch.Size([2, 1, 64, 64]), torch.Size([2, 64, 64]), 10)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from facerec.errors import DatasetError
from facerec.zoo.data import data_root, read_idx

__all__ = ["BACKGROUND", "CLASS_NAMES", "load_mask_folder", "make_canvases"]

BACKGROUND = 10
CLASS_NAMES = tuple(map(str, range(10))) + ("background",)
_STROKE = 100  # MNIST pixels brighter than this are the digit


def make_canvases(split: str, count: int, *, size: tuple[int, int] = (64, 64), max_digits: int = 3,
                  seed: int = 0) -> tuple[Tensor, Tensor]:
    """``count`` canvases (uint8 N x 1 x H x W) and their masks (int64 N x H x W) from MNIST ``split``."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    root = data_root() / "mnist"
    digits = read_idx(root / f"{prefix}-images.idx3-ubyte.gz")
    labels = read_idx(root / f"{prefix}-labels.idx1-ubyte.gz")
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    images = np.empty((count, *size), dtype=np.uint8)
    masks = np.full((count, *size), BACKGROUND, dtype=np.int64)
    for n in range(count):
        canvas = _background(size, rng)
        taken = np.zeros(size, dtype=bool)
        for _ in range(int(rng.integers(1, max_digits + 1))):
            index = int(rng.integers(len(digits)))
            side = int(rng.integers(20, min(size) // 2 + 9))
            digit = np.asarray(Image.fromarray(digits[index]).resize((side, side), Image.Resampling.BILINEAR))
            spot = _free_spot(taken, side, rng)
            if spot is None:
                continue
            y, x = spot
            region = canvas[y : y + side, x : x + side]
            canvas[y : y + side, x : x + side] = np.maximum(region, digit)
            masks[n, y : y + side, x : x + side][digit > _STROKE] = labels[index]
            taken[y : y + side, x : x + side] = True
        images[n] = canvas
    return torch.from_numpy(images)[:, None], torch.from_numpy(masks)


def _background(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Smooth random blotches plus faint stripes, darker than the digits' strokes (0-140)."""
    coarse = torch.from_numpy(rng.random((1, 1, 6, 6)).astype(np.float32))
    blotches = F.interpolate(coarse, size=size, mode="bicubic", align_corners=False)[0, 0].numpy()
    yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
    angle, period = rng.uniform(0, np.pi), rng.uniform(4, 12)
    stripes = 0.5 + 0.5 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    texture = 80 * np.clip(blotches, 0, 1) + 40 * stripes + rng.normal(0, 8, size)
    return np.clip(texture, 0, 140).astype(np.uint8)


def _free_spot(taken: np.ndarray, side: int, rng: np.random.Generator, tries: int = 20) -> tuple[int, int] | None:
    height, width = taken.shape
    for _ in range(tries):
        y, x = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        if not taken[y : y + side, x : x + side].any():
            return y, x
    return None


def load_mask_folder(folder: str | Path, *, size: tuple[int, int] | None = None) -> tuple[Tensor, Tensor]:
    """Grayscale ``folder/images/*`` and their ``folder/masks/*`` of the same stem (pixel value = class)."""
    folder = Path(folder)
    image_dir, mask_dir = folder / "images", folder / "masks"
    if not image_dir.is_dir() or not mask_dir.is_dir():
        raise DatasetError(f"{folder} needs an images/ and a masks/ folder")
    masks_by_stem = {p.stem: p for p in mask_dir.iterdir() if p.is_file()}
    pairs = [(p, masks_by_stem[p.stem]) for p in sorted(image_dir.iterdir()) if p.stem in masks_by_stem]
    if not pairs:
        raise DatasetError(f"no image in {image_dir} has a mask of the same name in {mask_dir}")
    images, masks = [], []
    for image_path, mask_path in pairs:
        image: Image.Image = Image.open(image_path).convert("L")
        mask: Image.Image = Image.open(mask_path)
        if mask.mode not in ("L", "P", "I"):
            raise DatasetError(f"{mask_path} is not a one-channel mask of class ids")
        if size is not None:
            image = image.resize(size[::-1], Image.Resampling.BILINEAR)
            mask = mask.resize(size[::-1], Image.Resampling.NEAREST)
        if image.size != mask.size:
            raise DatasetError(f"{image_path} and {mask_path} differ in size")
        images.append(np.asarray(image))
        masks.append(np.asarray(mask, dtype=np.int64))
    try:
        return torch.from_numpy(np.stack(images))[:, None], torch.from_numpy(np.stack(masks))
    except ValueError:
        raise DatasetError(f"images in {folder} differ in size; pass a size") from None
