"""Vector store backends behind one protocol, chosen by a URI.

A :class:`VectorStore` holds vectors keyed by int64 ids (face ids, to the layer above),
searched by inner product, and remembers the database revision it mirrors (``None``:
unknown, rebuild it). Two backends:

- :class:`FaissStore`: the embedded default, a FAISS file with its JSON sidecar;
- :class:`index.milvus_store.MilvusStore`: Milvus through pymilvus, embedded (Milvus Lite,
  a local ``.db`` path) or a server (``http://host:19530``). Imported only when asked for.

>>> store = open_vector_store("/tmp/demo.faiss", model="demo", dim=4)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from filelock import FileLock

from index.errors import IndexCorruptError, IndexMismatchError, VectorIndexError
from index.vector_index import IndexKind, SearchResult, VectorIndex

__all__ = ["VectorStore", "FaissStore", "open_vector_store", "backend_of"]


@runtime_checkable
class VectorStore(Protocol):
    """What the gallery needs from a vector backend."""

    model: str
    dim: int
    kind: str

    @property
    def location(self) -> str:
        """Where the vectors live, for messages (no password)."""

    @property
    def revision(self) -> int | None:
        """The database revision whose changes are all applied; None when unknown (rebuild)."""

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (or replace) ``vectors`` under ``ids``."""

    def remove(self, ids: np.ndarray) -> int:
        """Remove ``ids``; returns how many were present (backends that cannot tell return ``len(ids)``)."""

    def search(self, queries: np.ndarray, k: int = 5) -> SearchResult:
        """The ``k`` highest inner products per query; missing neighbours have id -1, score -inf."""

    def ids(self) -> np.ndarray:
        """Every id held, sorted."""

    def reset(self) -> None:
        """Empty the store (before a full rebuild); the revision becomes unknown."""

    def commit(self, revision: int, *, durable: bool = True) -> None:
        """Record that every change up to ``revision`` is applied; ``durable=False`` may defer the write."""

    def close(self) -> None: ...


def backend_of(uri: str) -> str:
    """``"milvus"`` or ``"faiss"`` for a ``--vectors`` URI.

    >>> backend_of("http://db:19530"), backend_of("milvus:///data/faces.db"), backend_of("faces.db")
    ('milvus', 'milvus', 'milvus')
    >>> backend_of("/data/gallery.faiss"), backend_of("faiss:///data/g.faiss")
    ('faiss', 'faiss')
    """
    text = str(uri)
    if text.startswith(("http://", "https://", "milvus://", "milvus:", "tcp://", "unix:")) or text.endswith(".db"):
        return "milvus"
    return "faiss"


def open_vector_store(uri: str | Path, *, model: str, dim: int, kind: IndexKind = "flat",
                      **options: Any) -> VectorStore:
    """The backend a URI names: a Milvus server (``http://host:19530``), Milvus Lite (``milvus:///path``
    or a path ending in ``.db``), else a FAISS file (``faiss:///path`` or any other path)."""
    text = str(uri)
    if backend_of(text) == "milvus":
        try:
            from index.milvus_store import MilvusStore
        except ImportError as exc:
            raise VectorIndexError(
                f"the Milvus backend needs the milvus extra: pip install 'facerec[milvus]' ({exc})") from None
        return MilvusStore(text, model=model, dim=dim, kind=kind)
    return FaissStore(Path(text.removeprefix("faiss://")), model=model, dim=dim, kind=kind, **options)


class FaissStore:
    """A :class:`VectorIndex` in memory, saved atomically to ``path`` with its revision in the sidecar.

    A missing, damaged or foreign file (another model, dimension or kind) opens as an empty store
    of unknown revision, which the gallery rebuilds. Writes take a file lock shared with other
    processes; each process keeps its own copy in memory and catches up from the database.
    """

    def __init__(self, path: Path, *, model: str, dim: int, kind: IndexKind = "flat", **options: Any) -> None:
        self.path, self.model, self.dim = Path(path), model, dim
        self.kind: str = kind
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._options = options
        self._lock = FileLock(str(self.path) + ".lock")
        self._revision: int | None = None
        self.index = VectorIndex(dim, model=model, kind=kind, **options)
        try:
            with self._lock:
                self._load(kind)
        except OSError:  # no lock file can be made here (a read-only folder): read without it
            self._load(kind)

    def _load(self, kind: str) -> None:
        try:
            loaded = VectorIndex.load(self.path, model=self.model, dim=self.dim)
            if loaded.kind == kind:
                self.index, self._revision = loaded, _read_revision(self.path)
        except (IndexCorruptError, IndexMismatchError):
            pass

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def revision(self) -> int | None:
        return self._revision

    def __len__(self) -> int:
        return len(self.index)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.index.add(ids, vectors)

    def remove(self, ids: np.ndarray) -> int:
        return self.index.remove(ids)

    def search(self, queries: np.ndarray, k: int = 5) -> SearchResult:
        return self.index.search(queries, k)

    def ids(self) -> np.ndarray:
        return self.index.ids()

    def reset(self) -> None:
        self.index = VectorIndex(self.dim, model=self.model, kind=self.kind, **self._options)  # type: ignore[arg-type]
        self._revision = None

    def commit(self, revision: int, *, durable: bool = True) -> None:
        self._revision = revision
        if durable:
            with self._lock:
                self.index.save(self.path, revision=str(revision))

    def close(self) -> None:
        """Nothing to release: every durable commit is already on disk."""


def _read_revision(path: Path) -> int | None:
    from index.vector_index import read_meta

    try:
        return int(read_meta(path).revision)
    except ValueError:
        return None
