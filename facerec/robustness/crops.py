"""Aligned face crops of every image of a pairs list, cached on disk.

Attacks work on the aligned ``112 x 112`` crop, so detection and alignment run once per
image and their output is kept as one ``.npz`` (written to ``name.tmp`` then moved).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from facerec.evaluation.pairs import Pair
from facerec.fileio import atomic_path

if TYPE_CHECKING:
    from facerec.recognizer import FaceRecognizer

__all__ = ["CropSet", "crop_pairs", "merge_crops"]


@dataclass(frozen=True)
class CropSet:
    """``crops[i]`` (uint8 ``S x S x 3``) is the aligned face of ``paths[i]``."""

    paths: tuple[str, ...]
    crops: np.ndarray
    detected: np.ndarray

    def index(self) -> dict[str, int]:
        return {path: i for i, path in enumerate(self.paths)}

    def pair_indices(self, pairs: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray]:
        """Row numbers of the first and second image of each pair."""
        where = self.index()
        return (np.array([where[str(p.a)] for p in pairs], dtype=np.int64),
                np.array([where[str(p.b)] for p in pairs], dtype=np.int64))


def crop_pairs(
    recognizer: FaceRecognizer,
    pairs: Sequence[Pair],
    *,
    cache_dir: Path | None = None,
    select: str = "center",
    batch_size: int = 32,
    progress: bool = False,
) -> CropSet:
    """Detect, select and align the face of every image named in ``pairs`` (cached).

    An image with no detected face is cropped from the centre (as ``facerec eval pairs`` does)
    and flagged in ``detected``, so every pair can be attacked.
    """
    paths = sorted({str(p) for pair in pairs for p in (pair.a, pair.b)})
    # the crop depends on detection and the alignment template, not on the embedder's weights
    key = json.dumps([repr(recognizer.weights.alignment), recognizer.detector.settings, select, "v3", paths])
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"crops-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
        if cache.is_file():
            try:
                with np.load(cache) as data:
                    return CropSet(tuple(paths), data["crops"], data["detected"])
            except (OSError, ValueError, KeyError):
                pass  # a damaged cache is rebuilt
    crops = np.zeros((len(paths), *(recognizer.weights.alignment.size,) * 2, 3), dtype=np.uint8)
    detected = np.zeros(len(paths), dtype=bool)
    from facerec.progress import tqdm

    for start in tqdm(range(0, len(paths), batch_size), desc="aligning", unit="batch", disable=not progress):
        chunk = slice(start, start + batch_size)
        aligned = recognizer.align(paths[chunk], select=select)  # type: ignore[arg-type]
        crops[chunk], detected[chunk] = aligned.crops, aligned.detected
    if cache is not None:
        with atomic_path(cache) as tmp:
            np.savez_compressed(tmp, crops=crops, detected=detected)
    return CropSet(tuple(paths), crops, detected)


def merge_crops(*sets: CropSet) -> CropSet:
    """One crop set holding every image of ``sets`` (an image in several is kept once)."""
    rows: dict[str, tuple[np.ndarray, bool]] = {}
    for crop_set in sets:
        for path, crop, found in zip(crop_set.paths, crop_set.crops, crop_set.detected):
            rows.setdefault(path, (crop, bool(found)))
    paths = tuple(sorted(rows))
    if not paths:
        return CropSet((), np.zeros((0, 0, 0, 3), np.uint8), np.zeros(0, bool))
    return CropSet(paths, np.stack([rows[p][0] for p in paths]), np.array([rows[p][1] for p in paths]))
