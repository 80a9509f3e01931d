"""The gallery store (SQLAlchemy) and the index that follows it. Knows nothing of images."""

from enrollment.errors import (
    DuplicateIdentityError,
    GalleryError,
    ModelMismatchError,
    NoGalleryError,
    UnknownIdentityError,
)
from enrollment.gallery import Candidate, Gallery
from enrollment.store import EnrollResult, GalleryStore, IdentitySummary, NewFace, read_info

__all__ = [
    "Candidate", "DuplicateIdentityError", "EnrollResult", "Gallery", "GalleryError", "GalleryStore",
    "IdentitySummary", "ModelMismatchError", "NewFace", "NoGalleryError", "UnknownIdentityError", "read_info",
]
