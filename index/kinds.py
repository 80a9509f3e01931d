"""The kinds of vector index (see :mod:`index.vector_index`), kept apart from it so that naming them (the CLI's
``--index-kind`` choices, type hints) does not import FAISS."""

from __future__ import annotations

from typing import Literal

__all__ = ["KINDS", "IndexKind"]

IndexKind = Literal["flat", "hnsw", "ivf", "pq"]
KINDS: tuple[str, ...] = ("flat", "hnsw", "ivf", "pq")
