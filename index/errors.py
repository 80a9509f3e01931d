"""Errors of the vector index. The base class is :class:`VectorIndexError`."""

from __future__ import annotations

__all__ = ["VectorIndexError", "IndexMismatchError", "IndexCorruptError"]


class VectorIndexError(Exception):
    """Base class of the index's own errors."""


class IndexMismatchError(VectorIndexError):
    """A saved index was built for another model, dimension or database revision."""


class IndexCorruptError(VectorIndexError):
    """A saved index or its sidecar cannot be read."""
