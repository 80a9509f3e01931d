"""The gallery store (SQLAlchemy) and the index that follows it. Knows nothing of images."""

from enrollment.access import ROLES, AccessStore, ApiKeyInfo, AuditRecord, role_allows
from enrollment.errors import (
    DuplicateIdentityError,
    GalleryError,
    IndexKindError,
    ModelMismatchError,
    NoGalleryError,
    UnknownIdentityError,
)
from enrollment.gallery import Candidate, Gallery
from enrollment.store import EnrollResult, GalleryStore, IdentitySummary, NewFace, read_info

__all__ = [
    "AccessStore", "ApiKeyInfo", "AuditRecord", "ROLES", "role_allows",
    "Candidate", "DuplicateIdentityError", "EnrollResult", "Gallery", "GalleryError", "GalleryStore",
    "IdentitySummary", "IndexKindError", "ModelMismatchError", "NewFace", "NoGalleryError", "UnknownIdentityError",
    "read_info",
]
