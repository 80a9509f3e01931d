"""Vector store backends behind one protocol, chosen by a URI.

A :class:`VectorStore` holds vectors keyed by int64 ids (face ids, to the layer above),
searched by inner product, and remembers the database revision it mirrors (``None``:
unknown, rebuild it). Two backends, named explicitly (see :func:`backend_of`):

- :class:`FaissStore`: the embedded default, a FAISS file with its JSON sidecar (a bare path,
  or ``faiss:///path``);
- :class:`index.milvus_store.MilvusStore`: Milvus through pymilvus, embedded (Milvus Lite,
  ``milvus:///path/faces.db``) or a server (``http://host:19530``). Imported only when asked for.

>>> store = open_vector_store("/tmp/demo.faiss", model="demo", dim=4)  # doctest: +SKIP
"""

from __future__ import annotations

import re
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

    def reset(self, kind: IndexKind | None = None) -> None:
        """Empty the store (before a full rebuild), as an index of ``kind`` when given; the revision becomes
        unknown."""

    def commit(self, revision: int, *, durable: bool = True) -> None:
        """Record that every change up to ``revision`` is applied; ``durable=False`` may defer the write."""

    def close(self) -> None: ...


#: URI schemes of a Milvus server, which pymilvus connects to as they are.
MILVUS_SERVER_SCHEMES = ("http://", "https://", "tcp://", "unix:")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def backend_of(uri: str | Path) -> str:
    """``"milvus"`` or ``"faiss"`` for a vector store URI, by its scheme alone.

    ``milvus://`` (Milvus Lite, embedded) and ``http(s)://``, ``tcp://``, ``unix:`` (a Milvus server) are
    Milvus; ``faiss://`` and a bare path are a FAISS file, whatever the file is called. Another scheme
    is refused, as is a bare path that is a folder (see :func:`open_vector_store`).

    >>> backend_of("http://db:19530"), backend_of("milvus:///data/faces.db")
    ('milvus', 'milvus')
    >>> backend_of("/data/gallery.faiss"), backend_of("faiss:///data/g.faiss"), backend_of("faces.db")
    ('faiss', 'faiss', 'faiss')
    """
    text = str(uri)
    if text.startswith(("milvus:", *MILVUS_SERVER_SCHEMES)):
        return "milvus"
    if text.startswith("faiss://") or not _SCHEME.match(text):
        return "faiss"
    raise VectorIndexError(f"unknown vector store scheme in {_shown(text)}: use a FAISS file path (or "
                           "faiss:///path), milvus:///path/faces.db (Milvus Lite) or http://host:19530 (Milvus)")


def _shown(uri: str) -> str:
    """``uri`` without a password, for messages."""
    return re.sub(r"(//[^/:@]*):[^/@]*@", r"\1:***@", uri)


def open_vector_store(uri: str | Path, *, model: str, dim: int, kind: IndexKind | None = "flat",
                      **options: Any) -> VectorStore:
    """The backend a URI names (see :func:`backend_of`): a Milvus server (``http://host:19530``), Milvus Lite
    (``milvus:///path/faces.db``), else a FAISS file (``faiss:///path`` or a bare path).

    ``kind=None`` keeps the kind of the vectors already there (``flat`` when there are none): for opening a
    store whose kind was not recorded elsewhere. A bare path that is a folder is refused: it is no FAISS
    file, and may be a Milvus Lite database named without ``milvus://``, which a FAISS file must not replace.
    """
    text = str(uri)
    if backend_of(text) == "milvus":
        try:
            from index.milvus_store import MilvusStore
        except ImportError as exc:
            raise VectorIndexError(
                f"the Milvus backend needs the milvus extra: pip install 'facerec[milvus]' ({exc})") from None
        return MilvusStore(text, model=model, dim=dim, kind=kind)
    path = Path(text.removeprefix("faiss://")).expanduser()
    if path.is_dir():
        raise VectorIndexError(
            f"{path} is a folder, not a FAISS index file; a Milvus Lite database is named milvus://{path}")
    return FaissStore(path, model=model, dim=dim, kind=kind, **options)


class FaissStore:
    """A :class:`VectorIndex` in memory, saved atomically to ``path`` with its revision in the sidecar.

    A missing, damaged or foreign file (another model, dimension or kind) opens as an empty store
    of unknown revision, which the gallery rebuilds; ``kind=None`` takes the file's kind (``flat``
    when there is no usable file). Opening writes nothing but the lock file. Writes take a file lock
    shared with other processes; each process keeps its own copy in memory and catches up from the database.
    """

    def __init__(self, path: Path, *, model: str, dim: int, kind: IndexKind | None = "flat",
                 **options: Any) -> None:
        self.path, self.model, self.dim = Path(path), model, dim
        self.kind: str = kind or "flat"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._options = options
        self._lock = FileLock(str(self.path) + ".lock")
        self._revision: int | None = None
        try:
            with self._lock:
                loaded = self._load(kind)
        except OSError:  # no lock file can be made here (a read-only folder): read without it
            loaded = self._load(kind)
        # an empty index is built only when no usable file was there (not built, then thrown away)
        self.index = loaded if loaded is not None else VectorIndex(dim, model=model, kind=kind or "flat", **options)

    def _load(self, kind: str | None) -> VectorIndex | None:
        """The saved index when it is usable and of ``kind`` (any kind for None), with its revision recorded."""
        try:
            loaded = VectorIndex.load(self.path, model=self.model, dim=self.dim)
        except (IndexCorruptError, IndexMismatchError):
            return None
        if kind is not None and loaded.kind != kind:
            return None
        self._revision, self.kind = _read_revision(self.path), loaded.kind
        return loaded

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

    def reset(self, kind: IndexKind | None = None) -> None:
        self.kind = kind or self.kind
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
