"""Vectors keyed by int64 ids: FAISS embedded (the default) or Milvus, chosen by URI. Knows nothing of faces or SQL.

Names load on first use (Scientific Python SPEC 1), so that ``index.errors``, which every layer's errors
derive from, does not import FAISS; the Milvus backend (``index.milvus_store``) is imported only when a
Milvus URI asks for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from index.errors import ForeignFileError, IndexCorruptError, IndexMismatchError, VectorIndexError

if TYPE_CHECKING:
    from index.kinds import KINDS, IndexKind
    from index.vector_index import IndexMeta, SearchResult, VectorIndex, read_meta
    from index.vector_store import (
        MEMORY,
        FaissStore,
        VectorStore,
        backend_of,
        faiss_path,
        index_files,
        open_vector_store,
    )

__all__ = [
    "KINDS", "MEMORY",
    "FaissStore", "ForeignFileError", "IndexCorruptError", "IndexKind", "IndexMeta", "IndexMismatchError",
    "SearchResult", "VectorIndex", "VectorIndexError", "VectorStore", "backend_of", "faiss_path", "index_files",
    "open_vector_store",
    "read_meta",
]

_LAZY = {name: "index.kinds" for name in ("KINDS", "IndexKind")}  # no FAISS: the CLI's --index-kind choices
_LAZY |= {name: "index.vector_index" for name in ("IndexMeta", "SearchResult", "VectorIndex", "read_meta")}
_LAZY |= {name: "index.vector_store" for name in ("MEMORY", "FaissStore", "VectorStore", "backend_of", "faiss_path",
                                                  "index_files", "open_vector_store")}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'index' has no attribute {name!r}")
