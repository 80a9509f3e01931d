"""Clean embeddings of cached crops, plain or through a defence, cached beside the crops."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from facerec.fileio import atomic_path
from facerec.models.embedders.embedder import FaceEmbedder
from facerec.robustness.defence import InputDefence

__all__ = ["clean_embeddings"]


def clean_embeddings(
    model: FaceEmbedder,
    crops: np.ndarray,
    *,
    defence: InputDefence | None = None,
    flip: bool = True,
    cache_dir: Path | None = None,
    chunk: int = 256,
) -> np.ndarray:
    """``N x D`` embeddings of uint8 crops (after ``defence`` when given), cached by content."""
    settings = f"{model.weights.key}|flip={flip}|defence={defence!r}|v1".encode()
    digest = hashlib.sha256(settings + hashlib.sha256(crops.tobytes()).digest()).hexdigest()[:16]
    path = Path(cache_dir) / f"clean-{digest}.npy" if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            return np.load(path)
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt
    parts = []
    for start in range(0, len(crops), chunk):
        batch = crops[start : start + chunk]
        parts.append(model.embed(defence.transform_crops(batch) if defence else batch, flip=flip))
    vectors = np.concatenate(parts) if parts else np.zeros((0, model.weights.embedding_size), np.float32)
    if path is not None:
        with atomic_path(path) as tmp:
            np.save(tmp, vectors)
    return vectors
