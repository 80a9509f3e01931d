"""The gallery store (SQLAlchemy) and the index that follows it. Knows nothing of images.

Names load on first use (Scientific Python SPEC 1, as :mod:`index` does), so that ``enrollment.errors``, which
every command that reports a gallery error or warning needs, does not import SQLAlchemy or FAISS: ``facerec
verify`` never opens a gallery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Each public name and the module it comes from.
_LAZY = {name: "enrollment.access" for name in ("AccessStore", "ApiKeyInfo", "AuditRecord", "ROLES", "role_allows")}
_LAZY |= {name: "enrollment.errors" for name in ("DuplicateIdentityError", "GalleryError", "IndexKindError",
                                                 "ModelMismatchError", "NoGalleryError", "UnknownIdentityError")}
_LAZY |= {name: "enrollment.gallery" for name in ("Candidate", "Gallery")}
_LAZY |= {name: "enrollment.store" for name in ("EnrollResult", "GalleryStore", "IdentitySummary", "NewFace",
                                                "read_info")}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    raise AttributeError(f"module 'enrollment' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
