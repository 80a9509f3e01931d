"""A FAISS index of vectors keyed by int64 ids. Knows nothing of faces or SQL."""

from index.errors import IndexCorruptError, IndexMismatchError, VectorIndexError
from index.vector_index import KINDS, IndexKind, IndexMeta, SearchResult, VectorIndex, read_meta

__all__ = [
    "KINDS",
    "IndexCorruptError", "IndexKind", "IndexMeta", "IndexMismatchError", "SearchResult", "VectorIndex",
    "VectorIndexError", "read_meta",
]
