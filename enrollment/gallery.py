"""A gallery: the SQL store plus a FAISS index that follows it.

The database is the truth. The index records the store revision it mirrors; when it
is missing, stale (a crash between commit and save, another process's writes) or
from another model, it is rebuilt from the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from filelock import FileLock

from enrollment.store import EnrollResult, GalleryStore, IdentitySummary, NewFace
from index import IndexCorruptError, IndexKind, IndexMismatchError, VectorIndex

__all__ = ["Candidate", "Gallery"]


@dataclass(frozen=True)
class Candidate:
    """An enrolled identity and the similarity of its best-matching face."""

    name: str
    score: float
    face_id: int


class Gallery:
    """Enroll, remove, rename and search identities; the index is kept in step.

    >>> gallery = Gallery("sqlite://", model="demo", dim=2, index_path=Path("/tmp/demo.faiss"))  # doctest: +SKIP
    """

    def __init__(
        self, url: str, *, model: str, dim: int, index_path: Path, index_kind: IndexKind = "flat",
        save_interval: float = 0.0,
    ) -> None:
        self.store = GalleryStore(url, model=model, dim=dim)
        self.model, self.dim, self.kind = model, dim, index_kind
        self.index_path = Path(index_path)
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.index_path) + ".lock")
        self.save_interval = save_interval
        self._last_save = 0.0
        self.rebuilt = False
        self.index, self.revision = self._load_or_rebuild()

    # -- keeping the index in step -------------------------------------------------

    def _load_or_rebuild(self) -> tuple[VectorIndex, int]:
        revision = self.store.revision()
        with self._lock:
            try:
                index = VectorIndex.load(self.index_path, model=self.model, dim=self.dim, revision=str(revision))
                if index.kind == self.kind:
                    return index, revision
            except (IndexCorruptError, IndexMismatchError):
                pass
        return self.rebuild()

    def rebuild(self) -> tuple[VectorIndex, int]:
        """Rebuild the index from the database and save it."""
        revision, ids, vectors = self.store.snapshot()
        index = VectorIndex(self.dim, model=self.model, kind=self.kind)
        index.add(ids, vectors)
        self.index, self.revision, self.rebuilt = index, revision, True
        self.save()
        return index, revision

    def save(self) -> None:
        """Write the index (atomically) under a file lock shared with other processes."""
        with self._lock:
            self.index.save(self.index_path, revision=str(self.revision))
        self._last_save = time.monotonic()

    def refresh(self) -> None:
        """Catch up with changes made by other processes."""
        if self.store.revision() != self.revision:
            self.index, self.revision = self._load_or_rebuild()

    def _follow(self, before: int, after: int, add: tuple[Sequence[int], np.ndarray] | None = None,
                remove: Sequence[int] | None = None, *, save: bool = True) -> None:
        if before == after:
            return
        if self.revision != before:  # someone else wrote in between: start again from the database
            self.rebuild()
            return
        if remove:
            self.index.remove(np.asarray(remove, np.int64))
        if add is not None and len(add[0]):
            self.index.add(np.asarray(add[0], np.int64), add[1])
        self.revision = after
        if save or time.monotonic() - self._last_save >= self.save_interval:
            self.save()

    # -- changes ---------------------------------------------------------------------

    def enroll(self, name: str, faces: Sequence[NewFace], *, info: dict[str, Any] | None = None,
               save: bool = True) -> EnrollResult:
        """Add faces to ``name`` (one transaction); ``save=False`` defers the index write."""
        result = self.store.enroll(name, faces, info=info)
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
        """For each query vector, the ``k`` best identities (best face each), best first."""
        self.refresh()
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        faces_wanted = min(len(self.index), max(10 * k, 50))
        if faces_wanted == 0:
            return [[] for _ in vectors]
        found = self.index.search(vectors, faces_wanted)
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
        open_set = self.store.setting("open_set")  # written by facerec.Gallery.calibration
        return {
            "model": self.model, "dim": self.dim, "index_kind": self.index.kind, "index_path": str(self.index_path),
            "identities": len(identities), "faces": self.store.count_faces(), "indexed": len(self.index),
            "revision": self.revision, "in_step": revision == self.revision,
            "open_set": open_set[0] if open_set else None,
            "open_set_current": open_set is not None and open_set[1] == revision,
        }

    def close(self) -> None:
        self.store.close()
