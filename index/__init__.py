"""Vectors keyed by int64 ids: FAISS embedded (the default) or Milvus, chosen by URI. Knows nothing of faces or SQL.

The Milvus backend (``index.milvus_store``) is imported only when a Milvus URI asks for it.
"""

from index.errors import IndexCorruptError, IndexMismatchError, VectorIndexError
from index.vector_index import KINDS, IndexKind, IndexMeta, SearchResult, VectorIndex, read_meta
from index.vector_store import FaissStore, VectorStore, backend_of, open_vector_store

__all__ = [
    "KINDS",
    "FaissStore", "IndexCorruptError", "IndexKind", "IndexMeta", "IndexMismatchError", "SearchResult", "VectorIndex",
    "VectorIndexError", "VectorStore", "backend_of", "open_vector_store", "read_meta",
]
