"""A gallery: the SQL store plus a vector store (FAISS or Milvus) that follows it.

The database is the truth. The vector store records the store revision it mirrors and
catches up from the change log: on open, before each search (other processes may have
written) and after each change. A store whose revision is unknown (missing, damaged, another
model), or too far behind, is rebuilt from the database in batches.

The kind of vector index (``flat``, ``pq``, ``hnsw``, ``ivf``) is a setting of the gallery, kept in its
database: every open uses it, and only :meth:`Gallery.rebuild` with another kind changes it. Opening a
gallery whose vector store is in step writes nothing.

The vector store is a cache of the database, and is checked against it on open: a FAISS index path that would
land on the database's own files is refused, and a random sample of the database's faces must be in the
store with the same vectors, else it is rebuilt. Vectors with NaN or infinite values are never indexed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from sqlalchemy import func, select

from enrollment.errors import GalleryError, IndexKindError
from enrollment.schema import FaceRecord
from enrollment.store import Changes, EnrollResult, GalleryStore, IdentitySummary, NewFace, _safe, sqlite_path
from index import FaissStore, IndexKind, VectorStore, backend_of, faiss_path, index_files, open_vector_store

__all__ = ["Candidate", "Gallery", "check_apart", "database_files"]

REBUILD_BATCH = 50_000  # faces read and added at a time: 25 MB of 128-d vectors
CHECK_SAMPLE = 256  # faces of the database checked against the vector store on open (all of a smaller gallery)


@dataclass(frozen=True)
class Candidate:
    """An enrolled identity and the similarity of its best-matching face."""

    name: str
    score: float
    face_id: int


class Gallery:
    """Enroll, remove, rename and search identities; the vector store is kept in step.

    ``vectors`` is a FAISS file path or a Milvus URI (see :func:`index.open_vector_store`). ``index_kind``
    None uses the kind kept with the gallery (for a new gallery, or one from before the kind was kept: the
    kind its vector store has, else ``flat``); another kind than the kept one is refused
    (:class:`IndexKindError`): :meth:`rebuild` changes it.

    ``write_index=False`` is for reading: the vector store is brought in step in memory only, and its file is
    never created or replaced (a FAISS file; Milvus has no file).

    >>> gallery = Gallery("sqlite://", model="demo", dim=2, vectors=Path("/tmp/demo.faiss"))  # doctest: +SKIP
    """

    def __init__(
        self, url: str, *, model: str, dim: int, vectors: str | Path, index_kind: IndexKind | None = None,
        save_interval: float = 0.0, write_index: bool = True,
    ) -> None:
        self.backend = backend_of(str(vectors))
        check_apart(url, vectors)
        self.store = GalleryStore(url, model=model, dim=dim)
        self.model, self.dim = model, dim
        #: The index kind recorded in the database (None: not yet, see :meth:`_record_kind`).
        self._kept_kind = self.store.index_kind()
        if index_kind is not None and self._kept_kind is not None and index_kind != self._kept_kind:
            self.store.close()
            raise IndexKindError(f"gallery {_safe(url)} keeps a {self._kept_kind!r} vector index, not {index_kind!r}: "
                                 f"leave the kind out to use the gallery's own, or rebuild the index as "
                                 f"{index_kind!r} to change it",
                                 hint=f"drop --index-kind, or change it with `facerec index rebuild --index-kind "
                                      f"{index_kind}`")
        try:
            self.index: VectorStore = open_vector_store(vectors, model=model, dim=dim,
                                                        kind=index_kind or self._kept_kind)  # type: ignore[arg-type]
        except BaseException:
            self.store.close()
            raise
        self.save_interval = save_interval
        self.write_index = write_index
        self._last_save = 0.0
        #: Why the vector store's file could not be written on the last durable commit (None: it was).
        self.index_error: str | None = None
        #: How the vector store was last brought in step: "none" (it was), "catch-up" (from the log), "rebuild".
        self.last_sync: Literal["none", "catch-up", "rebuild"] = "none"
        #: Why the vector store was rebuilt on open though its revision was current (None: it was not).
        self.disagreed: str | None = None
        self.sync(durable=True)
        if not self.rebuilt:
            self.disagreed = self._disagreement()
            if self.disagreed is not None:  # the database is the truth: the store is rebuilt from it
                self._rebuild()

    @property
    def rebuilt(self) -> bool:
        return self.last_sync == "rebuild"

    @property
    def kind(self) -> str:
        """The kind of vector index in use (``flat``, ``pq``, ``hnsw``, ``ivf``)."""
        return self.index.kind

    @property
    def revision(self) -> int | None:
        """The database revision the vector store mirrors."""
        return self.index.revision

    @property
    def index_path(self) -> Path | None:
        """The FAISS file, for the FAISS backend."""
        return self.index.path if isinstance(self.index, FaissStore) else None

    # -- keeping the vector store in step ---------------------------------------------

    def sync(self, *, durable: bool | None = None) -> None:
        """Catch up with the database: replay the change log from the store's revision, or rebuild."""
        current = self.store.revision()
        have = self.index.revision
        if have == current:
            return
        changes = self.store.changes_since(have) if have is not None else None
        if changes is None:
            self._rebuild()
            return
        self._apply(changes, durable=self._due() if durable is None else durable)
        self.last_sync = "catch-up"

    def refresh(self) -> None:
        """Catch up with changes made by other processes."""
        self.sync()

    def rebuild(self, kind: IndexKind | None = None) -> None:
        """Rebuild the vector store from the database, streamed in batches (bounded memory), and save it;
        with ``kind``, as that kind of index, which the gallery keeps from now on (recorded in its database)."""
        self._rebuild(kind)
        self._record_kind()

    def _record_kind(self) -> None:
        """Keep the index kind in use with the gallery, where it is not recorded yet (a new gallery, or one
        from before the kind was kept) or was just changed. Called only where the gallery is written."""
        if self._kept_kind != self.index.kind:
            self.store.put_index_kind(self.index.kind)
            self._kept_kind = self.index.kind

    def _disagreement(self) -> str | None:
        """Why the vector store does not mirror the database (None: it does, as far as a sample shows): a face
        of a random sample of up to :data:`CHECK_SAMPLE` (every face of a smaller gallery) is missing from it,
        held with another vector, or held though its vector is not finite. Three small queries: about 35 ms at
        100,000 faces on SQLite (measured on a loaded 2-core machine)."""
        with self.store.session() as session:  # apart: SQLite answers each from the key, both at once by a scan
            low = session.scalar(select(func.min(FaceRecord.id)))
            high = session.scalar(select(func.max(FaceRecord.id)))
        if low is None or high is None:
            return None
        if high - low < CHECK_SAMPLE:
            picks = np.arange(low, high + 1)
        else:
            picks = np.unique(np.r_[low, high, np.random.default_rng().integers(low, high + 1, CHECK_SAMPLE)])
        ids, _, expected = self.store.faces(picks.tolist())
        held, stored = self.index.vectors(ids)
        finite = np.isfinite(expected).all(axis=1)
        if (wrong := np.flatnonzero(held != finite)).size:
            face_id, ok = ids[wrong[0]], finite[wrong[0]]
            return f"face {face_id} is {'missing from' if ok else 'not finite but in'} {self.index.location}"
        with np.errstate(invalid="ignore"):  # inf - inf in a row that is not finite, and not compared
            differ = np.abs(np.where(finite[:, None], expected - stored, 0.0)).max(axis=1, initial=0.0) > 1e-6
        if differ.any():
            return f"face {ids[differ][0]} has another vector in {self.index.location} than in the database"
        return None

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add faces of the database to the vector store, but for any whose vector is not finite (a NaN would
        score NaN against every query): the database keeps them, no search finds them."""
        finite = np.isfinite(vectors).all(axis=1)
        if not finite.all():
            ids, vectors = ids[finite], vectors[finite]
        if len(ids):
            self.index.add(ids, vectors)

    def _rebuild(self, kind: IndexKind | None = None) -> None:
        revision = self.store.revision()
        self.index.reset(kind)
        for ids, vectors in self.store.iter_faces(REBUILD_BATCH):
            self._add(ids, vectors)
        # Writes committed while the faces were streamed are replayed (applying a change twice is harmless).
        changes = self.store.changes_since(revision)
        if changes is not None and changes.revision != revision:
            self._apply(changes, durable=True)
        else:
            self._commit(revision, True)
        self.last_sync = "rebuild"

    def _apply(self, changes: Changes, *, durable: bool) -> None:
        if len(changes.touched):
            self.index.remove(changes.touched)
        if len(changes.added_ids):
            self._add(changes.added_ids, changes.added_vectors)
        self._commit(changes.revision, durable)

    def _commit(self, revision: int, durable: bool) -> None:
        """Record the revision the vector store mirrors. The database is the truth and is already committed:
        a store file that cannot be written (permissions, disk full) is not an error of the change, so it
        is noted in :attr:`index_error` and the file catches up from the change log on a later open. Opened
        with ``write_index=False``, nothing is made durable."""
        durable = durable and self.write_index
        try:
            self.index.commit(revision, durable=durable)
        except OSError as exc:
            self.index_error = f"{type(exc).__name__}: {exc}"
            return
        if durable:
            self._last_save = time.monotonic()
            self.index_error = None

    def _due(self) -> bool:
        return time.monotonic() - self._last_save >= self.save_interval

    def save(self) -> None:
        """Make the vector store's state durable (FAISS: write the file, atomically, under a file lock)."""
        if self.index.revision is not None:
            self._commit(self.index.revision, True)

    def _follow(self, before: int, after: int, add: tuple[Sequence[int], np.ndarray] | None = None,
                remove: Sequence[int] | None = None, *, save: bool = True) -> None:
        if before == after:
            return
        self._record_kind()
        if self.index.revision != before:  # someone else wrote in between: the log has both
            self.sync(durable=save or None)
            return
        if remove:
            self.index.remove(np.asarray(remove, np.int64))
        if add is not None and len(add[0]):
            self._add(np.asarray(add[0], np.int64), np.asarray(add[1], np.float32))
        self._commit(after, save or self._due())

    # -- changes ---------------------------------------------------------------------

    def enroll(self, name: str, faces: Sequence[NewFace], *, info: dict[str, Any] | None = None,
               save: bool = True) -> EnrollResult:
        """Add faces to ``name`` (one transaction); ``save=False`` defers the index write."""
        result = self.store.enroll(name, faces, info=info)
        self._follow(result.revision_before, result.revision, add=(result.added_ids, result.added_vectors),
                     save=save)
        return result

    def enroll_many(self, faces: Sequence[tuple[str, NewFace]], *, save: bool = True) -> EnrollResult:
        """Add faces of many identities in one transaction (see :meth:`GalleryStore.enroll_many`)."""
        result = self.store.enroll_many(faces)
        self._follow(result.revision_before, result.revision, add=(result.added_ids, result.added_vectors),
                     save=save)
        return result

    def remove(self, name: str) -> int:
        """Remove ``name`` and its faces; returns how many faces went."""
        ids, before, after = self.store.remove(name)
        self._follow(before, after, remove=ids)
        return len(ids)

    def rename(self, old: str, new: str) -> None:
        self._follow(*self.store.rename(old, new))

    def identities(self) -> list[IdentitySummary]:
        return self.store.identities()

    def count_identities(self) -> int:
        return self.store.count_identities()

    def names(self) -> list[str]:
        return [summary.name for summary in self.store.identities()]

    # -- search ----------------------------------------------------------------------

    def search(self, vectors: np.ndarray, k: int = 5) -> list[list[Candidate]]:
        """For each query vector, the ``k`` best identities (best face each), best first.

        Faces the vector store still holds but the database no longer has are ignored: the
        database is the truth even while the store catches up.
        """
        self.refresh()
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        # No len(index) here: counting is a query of its own on Milvus. Missing neighbours come back as -1.
        found = self.index.search(vectors, max(10 * k, 50))
        names = self.store.names_for(found.ids.ravel().tolist())
        results = []
        for scores, ids in zip(found.scores, found.ids):
            best: dict[str, Candidate] = {}
            for score, face_id in zip(scores, ids):
                name = names.get(int(face_id))
                if name is not None and name not in best:
                    best[name] = Candidate(name, float(score), int(face_id))
            results.append(sorted(best.values(), key=lambda c: -c.score)[:k])
        return results

    def stats(self) -> dict[str, Any]:
        identities = self.store.identities()
        revision = self.store.revision()
        from enrollment.errors import DamagedRowError

        try:
            open_set = self.store.setting("open_set")  # written by facerec.Gallery.calibration
        except DamagedRowError:  # facerec recomputes it (facerec.open_set), and says so
            open_set = None
        crops = self.store.setting("crops")  # written by facerec.Gallery before its first face: how faces were embedded
        return {
            "model": self.model, "dim": self.dim, "backend": self.backend, "index_kind": self.index.kind,
            "vectors": self.index.location,  # a FAISS file or a Milvus URI (without its password)
            "identities": len(identities), "faces": self.store.count_faces(), "indexed": len(self.index),
            "revision": self.revision, "in_step": revision == self.revision,
            "open_set": open_set[0] if open_set else None,
            "open_set_current": open_set is not None and open_set[1] == revision,
            "crops": crops[0] if crops else None,
        }

    def close(self) -> None:
        self.store.close()
        self.index.close()


def database_files(url: str) -> tuple[Path, ...]:
    """The files of a SQLite database at ``url`` (the database, its WAL, shared memory and journal); none for
    another database or an in-memory one."""
    path = sqlite_path(url)
    if path is None:
        return ()
    path = path.expanduser()
    return (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")))


def check_apart(url: str, vectors: str | Path) -> None:
    """Refuse (:class:`GalleryError`) a FAISS index whose files (index, sidecar, temporary files, lock) would be
    the gallery database's own files: saving the index would replace the database."""
    path = faiss_path(vectors) if backend_of(str(vectors)) == "faiss" else None
    if path is None:
        return
    for ours in index_files(path):
        for theirs in database_files(url):
            if _same(ours, theirs):
                raise GalleryError(f"the vector index {path} would overwrite the gallery database's file {theirs}: "
                                   "the index needs a file of its own",
                                   hint="give --index (or --vectors) another file, or leave it out")


def _same(one: Path, other: Path) -> bool:
    """Whether two paths name one file (after symlinks; a hard link too, where both exist)."""
    if one.resolve() == other.resolve():
        return True
    try:
        return one.samefile(other)
    except OSError:
        return False
