"""Errors of the gallery store. The base class is :class:`GalleryError`."""

from __future__ import annotations

from index.errors import FaceRecError

__all__ = ["GalleryError", "ModelMismatchError", "UnknownIdentityError", "DuplicateIdentityError", "NoGalleryError",
           "IndexKindError", "DamagedRowError", "GalleryWarning"]


class GalleryError(FaceRecError):
    """Base class of the gallery's own errors."""


class ModelMismatchError(GalleryError):
    """The gallery was created with another embedding model."""


class UnknownIdentityError(GalleryError):
    """No identity of that name is enrolled."""


class DuplicateIdentityError(GalleryError):
    """An identity of that name already exists."""


class NoGalleryError(GalleryError):
    """A command that only reads found no gallery at the given database."""


class IndexKindError(GalleryError):
    """The gallery keeps another kind of vector index than the one asked for: changing it takes a rebuild."""


class DamagedRowError(GalleryError):
    """A row of the gallery's database cannot be read as what it should hold (a setting that is not a JSON object)."""


class GalleryWarning(UserWarning):
    """Something the gallery worked around that its user should know: a damaged row skipped or recomputed."""
