"""Errors of the vector index. The base class is :class:`VectorIndexError`.

:class:`FaceRecError`, the base of every error facerec raises on purpose, is defined here, in the
lowest layer, so that the index's, the gallery store's and facerec's own errors share it
(``facerec.errors`` re-exports it).
"""

from __future__ import annotations

__all__ = ["FaceRecError", "VectorIndexError", "IndexMismatchError", "IndexCorruptError", "ForeignFileError"]


class FaceRecError(Exception):
    """Base class of every error facerec raises on purpose.

    The message speaks to a library user; ``hint``, when given, says what to do in the command line's
    words (an option to add or drop), and only the CLI shows it.
    """

    def __init__(self, *args: object, hint: str | None = None) -> None:
        super().__init__(*args)
        self.hint = hint


class VectorIndexError(FaceRecError):
    """Base class of the index's own errors."""


class IndexMismatchError(VectorIndexError):
    """A saved index was built for another model, dimension or database revision."""


class IndexCorruptError(VectorIndexError):
    """A saved index or its sidecar cannot be read."""


class ForeignFileError(VectorIndexError):
    """A path named for the vector index holds a file facerec did not make there: it is never overwritten."""
