"""Detection data without hand labels: mosaics of LFW photos, labelled by facerec's best detector.

A mosaic is a square canvas cut into a g x g grid (g = 1, 2 or 3) holding one to nine photos, each
scaled to 60-100 % of its cell and placed at random inside it, so faces come at several scales. The
teacher (the default detector cascade) then finds the faces on the mosaic itself; its boxes and
landmarks are the labels. Training mosaics use the training people, test mosaics the others.
Mosaics and labels are cached under ``cache_dir`` as one ``.npz``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from facerec.errors import DatasetError
from facerec.fileio import atomic_path
from facerec.zoo.data import data_root

__all__ = ["Mosaics", "is_test_person", "label_with", "make_mosaics"]


@dataclass(frozen=True)
class Mosaics:
    """``images`` N x S x S x 3 uint8; per image, boxes (M x 4), landmarks (M x 5 x 2) and scores."""

    images: np.ndarray
    boxes: list[np.ndarray]
    landmarks: list[np.ndarray]
    scores: list[np.ndarray]


def is_test_person(name: str, seed: int = 0, share: float = 0.2) -> bool:
    """A seeded hash of the person's name puts ``share`` of the people in the test split."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:4], "big") / 2**32 < share


def _photos(split: str, seed: int) -> list[Path]:
    root = data_root() / "lfw_dev" / "images"
    if not root.is_dir():
        raise DatasetError(f"LFW folder not found: {root}")
    people = [p for p in sorted(root.iterdir()) if p.is_dir() and is_test_person(p.name, seed) == (split == "test")]
    return [f for person in people for f in sorted(person.glob("*.jpg"))]


def make_mosaics(split: str, count: int, *, size: int = 192, seed: int = 0, teacher: str | None = None,
                 cache_dir: str | Path | None = None) -> Mosaics:
    """``count`` mosaics of the ``train`` or ``test`` people, labelled by ``teacher`` (default detector)."""
    from facerec.models.detectors import DEFAULT_DETECTOR

    teacher = teacher or DEFAULT_DETECTOR
    cache = None
    if cache_dir is not None:
        key = hashlib.sha256(f"{split}:{count}:{size}:{seed}:{teacher}:v1".encode()).hexdigest()[:12]
        cache = Path(cache_dir) / f"mosaics-{split}-{count}-{key}.npz"
        if cache.is_file():
            return _read(cache)
    files = _photos(split, seed)
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    images = np.stack([_mosaic(files, size, rng) for _ in range(count)])
    mosaics = label_with(teacher, images)
    if cache is not None:
        _write(cache, mosaics)
    return mosaics


def _mosaic(files: list[Path], size: int, rng: np.random.Generator) -> np.ndarray:
    faces = int(rng.integers(1, 10))
    grid = 1 if faces == 1 else 2 if faces <= 4 else 3
    canvas = np.full((size, size, 3), int(rng.integers(40, 200)), dtype=np.uint8)
    cell = size // grid
    for slot in rng.choice(grid * grid, faces, replace=False):
        side = int(cell * rng.uniform(0.6, 1.0))
        photo = Image.open(files[int(rng.integers(len(files)))]).convert("RGB")
        photo = photo.resize((side, side), Image.Resampling.BILINEAR)
        row, col = divmod(int(slot), grid)
        y = row * cell + int(rng.integers(0, cell - side + 1))
        x = col * cell + int(rng.integers(0, cell - side + 1))
        canvas[y : y + side, x : x + side] = np.asarray(photo)
    return canvas


def label_with(teacher: str, images: np.ndarray) -> Mosaics:
    """Boxes, landmarks and scores that detector ``teacher`` finds on each image."""
    from facerec.models.detectors import get_detector

    detector = get_detector(teacher)
    found = [detector.detect([image])[0] for image in images]
    return Mosaics(
        images,
        [np.array([f.box for f in faces], dtype=np.float32).reshape(-1, 4) for faces in found],
        [np.array([f.landmarks for f in faces], dtype=np.float32).reshape(-1, 5, 2) for faces in found],
        [np.array([f.score for f in faces], dtype=np.float32) for faces in found],
    )


def _write(path: Path, mosaics: Mosaics) -> None:
    counts = np.array([len(b) for b in mosaics.boxes])
    with atomic_path(path) as temporary:
        np.savez_compressed(temporary, images=mosaics.images, counts=counts,
                            boxes=np.concatenate(mosaics.boxes), landmarks=np.concatenate(mosaics.landmarks),
                            scores=np.concatenate(mosaics.scores))


def _read(path: Path) -> Mosaics:
    with np.load(path) as data:
        cuts = np.cumsum(data["counts"])[:-1]
        return Mosaics(data["images"], np.split(data["boxes"], cuts), np.split(data["landmarks"], cuts),
                       np.split(data["scores"], cuts))
