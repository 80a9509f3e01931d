"""Vector store backends behind one protocol, chosen by a URI.

A :class:`VectorStore` holds vectors keyed by int64 ids (face ids, to the layer above),
searched by inner product, and remembers the database revision it mirrors (``None``:
unknown, rebuild it). Two backends, named explicitly (see :func:`backend_of`):

- :class:`FaissStore`: the embedded default, a FAISS file with its JSON sidecar (a bare path,
  or ``faiss:///path``), or in memory only (``:memory:``, for an in-memory database);
- :class:`index.milvus_store.MilvusStore`: Milvus through pymilvus, embedded (Milvus Lite,
  ``milvus:///path/faces.db``) or a server (``http://host:19530``). Imported only when asked for.

>>> store = open_vector_store("/tmp/demo.faiss", model="demo", dim=4)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from filelock import FileLock

from index.errors import ForeignFileError, IndexCorruptError, IndexMismatchError, VectorIndexError
from index.schemes import MILVUS_SERVER_SCHEMES
from index.vector_index import IndexKind, SearchResult, VectorIndex, kind_of, read_meta

__all__ = ["MEMORY", "VectorStore", "FaissStore", "open_vector_store", "backend_of", "check_ours", "faiss_path",
           "index_files"]

#: The vector store URI of a FAISS index kept in memory only (never written), as SQLite's ``:memory:``.
MEMORY = ":memory:"
_MEMORY_URIS = (MEMORY, f"faiss://{MEMORY}")
#: The first bytes of the FAISS files :class:`VectorIndex` writes (an IndexIDMap2, an IndexIVFFlat).
_FAISS_MAGIC = (b"IxM2", b"IwFl")


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

    def vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which of ``ids`` are held (a boolean mask) and their stored vectors (zeros where not held)."""

    def reset(self, kind: IndexKind | None = None) -> None:
        """Empty the store (before a full rebuild), as an index of ``kind`` when given; the revision becomes
        unknown."""

    def commit(self, revision: int, *, durable: bool = True) -> None:
        """Record that every change up to ``revision`` is applied; ``durable=False`` may defer the write."""

    def close(self) -> None: ...


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
    if text in _MEMORY_URIS:
        return "faiss"
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
    So is a path that holds a file facerec did not make (:class:`ForeignFileError`, see :func:`check_ours`).
    ``:memory:`` is a FAISS index in memory only.
    """
    text = str(uri)
    if backend_of(text) == "faiss":
        return FaissStore(faiss_path(text), model=model, dim=dim, kind=kind, **options)
    try:
        from index.milvus_store import MilvusStore
    except ImportError as exc:
        raise VectorIndexError(
            f"the Milvus backend needs the milvus extra: pip install 'facerec[milvus]' ({exc})") from None
    return MilvusStore(text, model=model, dim=dim, kind=kind)


def faiss_path(uri: str | Path) -> Path | None:
    """The file of a FAISS store URI (a bare path or ``faiss:///path``); None for ``:memory:``. A folder is
    refused: it is no FAISS file, and may be a Milvus Lite database named without ``milvus://``."""
    text = str(uri)
    if text in _MEMORY_URIS:
        return None
    path = Path(text.removeprefix("faiss://")).expanduser()
    if path.is_dir():
        raise VectorIndexError(
            f"{path} is a folder, not a FAISS index file; a Milvus Lite database is named milvus://{path}")
    return path


class FaissStore:
    """A :class:`VectorIndex` in memory, saved atomically to ``path`` with its revision in the sidecar
    (``path`` None: kept in memory only, never written).

    A missing, damaged or foreign-shaped index (another model, dimension or kind, or a file that disagrees with
    its sidecar) opens as an empty store of unknown revision, which the gallery rebuilds; ``kind=None`` takes
    the file's kind (``flat`` when there is no usable file). A path that holds a file facerec did not make is
    refused (:func:`check_ours`): it is never overwritten. Opening writes nothing but the lock file (none where
    no file is yet). Writes take a file lock shared with other processes; each process keeps its own copy in
    memory and catches up from the database.
    """

    def __init__(self, path: Path | None, *, model: str, dim: int, kind: IndexKind | None = "flat",
                 **options: Any) -> None:
        self.path, self.model, self.dim = None if path is None else Path(path), model, dim
        self.kind: str = kind or "flat"
        self._options = options
        self._revision: int | None = None
        self._lock: FileLock | None = None
        loaded: VectorIndex | None = None
        if self.path is not None:
            check_ours(self.path)
            self._lock = FileLock(str(self.path) + ".lock")
            if self.path.exists():  # else nothing to read, and no lock file is made
                try:
                    with self._lock:
                        loaded = self._load(self.path, kind)
                except OSError:  # no lock file can be made here (a read-only folder): read without it
                    loaded = self._load(self.path, kind)
        # an empty index is built only when no usable file was there (not built, then thrown away)
        self.index = loaded if loaded is not None else VectorIndex(dim, model=model, kind=kind or "flat", **options)

    def _load(self, path: Path, kind: str | None) -> VectorIndex | None:
        """The index saved at ``path`` when it is usable and of ``kind`` (any kind for None), with its revision
        recorded."""
        try:
            loaded = VectorIndex.load(path, model=self.model, dim=self.dim)
        except (IndexCorruptError, IndexMismatchError):
            return None
        if kind is not None and loaded.kind != kind:
            return None
        self._revision, self.kind = _read_revision(path), loaded.kind
        return loaded

    @property
    def location(self) -> str:
        return MEMORY if self.path is None else str(self.path)

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

    def vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.index.vectors(ids)

    def reset(self, kind: IndexKind | None = None) -> None:
        self.kind = kind or self.kind
        self.index = VectorIndex(self.dim, model=self.model, kind=self.kind, **self._options)  # type: ignore[arg-type]
        self._revision = None

    def commit(self, revision: int, *, durable: bool = True) -> None:
        """Record ``revision``; ``durable``: write the file (an OSError when it cannot be written, or when
        a file facerec did not make has taken its place since it was opened)."""
        self._revision = revision
        if durable and self.path is not None and self._lock is not None:
            with self._lock:
                try:
                    check_ours(self.path)
                except ForeignFileError as exc:
                    raise OSError(str(exc)) from None
                self.index.save(self.path, revision=str(revision))

    def close(self) -> None:
        """Nothing to release: every durable commit is already on disk."""


def index_files(path: str | Path) -> tuple[Path, ...]:
    """Every file a FAISS store at ``path`` writes: the index, its sidecar, their temporary files, the lock."""
    path = Path(path)
    sidecar = path.with_name(path.name + ".json")
    return (path, sidecar, path.with_name(path.name + ".tmp"), sidecar.with_name(sidecar.name + ".tmp"),
            path.with_name(path.name + ".lock"))


def check_ours(path: Path) -> None:
    """Refuse (:class:`ForeignFileError`) a FAISS store path where a file is that facerec did not make, so that
    no save replaces it: the index and its sidecar may be replaced only when the sidecar is one of ours, or,
    without a sidecar (a crash before the first one was written), when the file is a FAISS index of the
    structure :class:`VectorIndex` makes. A path with nothing there is free."""
    sidecar = index_files(path)[1]
    hint = "name a new file, or an index facerec made, with --index or --vectors (or FACEREC_VECTORS)"
    for file in (path, sidecar):
        if file.exists() and not file.is_file():
            raise ForeignFileError(f"{file} is not a regular file: facerec will not write a vector index there",
                                   hint=hint)
    if sidecar.exists():
        if not _is_sidecar(sidecar):
            raise ForeignFileError(f"{sidecar} is not the sidecar of a facerec index: facerec will not overwrite "
                                   f"it (nor {path}); if it is a damaged one, delete both", hint=hint)
        return
    if path.exists() and not _is_faiss_index(path):
        raise ForeignFileError(f"{path} is not a facerec vector index (it has no {sidecar.name} sidecar and is no "
                               "FAISS index): facerec will not overwrite it", hint=hint)


def _is_sidecar(sidecar: Path) -> bool:
    """Whether ``sidecar`` is a JSON object naming a model and a dimension, as every facerec sidecar does."""
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and {"model", "dim"} <= meta.keys()


def _is_faiss_index(path: Path) -> bool:
    """Whether ``path`` is a FAISS index of a structure :class:`VectorIndex` makes (the file header first)."""
    import faiss

    try:
        with path.open("rb") as handle:
            if handle.read(4) not in _FAISS_MAGIC:
                return False
        return kind_of(faiss.read_index(str(path))) is not None
    except (OSError, RuntimeError):
        return False


def _read_revision(path: Path) -> int | None:
    try:
        return int(read_meta(path).revision)
    except ValueError:
        return None
