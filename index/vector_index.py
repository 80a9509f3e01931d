"""Vectors keyed by int64 ids, searched by inner product with FAISS.

Knows nothing of faces or SQL. ``flat`` is exact. For large galleries, ``pq`` scans
4-bit product-quantised codes for a shortlist and re-ranks it exactly (the recommended
kind at a million faces, see ``scripts/bench_index.py``); ``hnsw`` and ``ivf`` are the
classic graph and inverted-list indexes. Saved atomically with a JSON sidecar
(model, dimension, count, revision) that :meth:`VectorIndex.load` checks.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.errors import IndexCorruptError, IndexMismatchError, VectorIndexError
from index.kinds import KINDS, IndexKind

__all__ = ["KINDS", "IndexKind", "IndexMeta", "SearchResult", "VectorIndex", "check_finite", "kind_of",
           "read_meta"]

_PQ_MIN_TRAIN = 1024


@dataclass(frozen=True)
class IndexMeta:
    """What the sidecar records; ``revision`` is the database state the index mirrors."""

    model: str
    dim: int
    count: int
    revision: str
    kind: str


@dataclass(frozen=True)
class SearchResult:
    """``scores`` and ``ids`` are ``Q x k``; missing neighbours have id ``-1``, score ``-inf``."""

    scores: np.ndarray
    ids: np.ndarray


class VectorIndex:
    """An inner-product index of ``dim``-dimensional float32 vectors keyed by int64 ids.

    >>> index = VectorIndex(dim=4, model="demo")
    >>> index.add(np.array([7]), np.eye(4, dtype=np.float32)[:1])
    >>> index.search(np.eye(4, dtype=np.float32)[:1], k=1).ids.tolist()
    [[7]]
    """

    def __init__(
        self, dim: int, *, model: str, kind: IndexKind = "flat", hnsw_m: int = 32,
        ef_search: int = 128, ef_construction: int = 80, nlist: int = 1024, nprobe: int = 32,
        pq_m: int | None = None, refine: int = 64,
    ) -> None:
        if dim <= 0:
            raise VectorIndexError(f"dimension must be positive, got {dim}")
        if kind not in KINDS:
            raise VectorIndexError(f"unknown index kind {kind!r}; use one of {', '.join(KINDS)}")
        self.pq_m = pq_m or max(1, dim // 4)
        if kind == "pq" and dim % self.pq_m:
            raise VectorIndexError(f"pq_m={self.pq_m} does not divide the dimension {dim}")
        self.dim, self.model, self.kind = dim, model, kind
        self.hnsw_m, self.ef_search, self.ef_construction = hnsw_m, ef_search, ef_construction
        self.nlist, self.nprobe, self.refine = nlist, nprobe, refine
        self._index = self._make(trained_on=0)

    def _make(self, trained_on: int) -> faiss.Index:
        """A fresh, empty FAISS index; IVF sizes its lists by the ``trained_on`` training vectors."""
        dim = self.dim
        if self.kind == "flat":
            return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        if self.kind == "hnsw":
            inner = faiss.IndexHNSWFlat(dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = self.ef_construction
            inner.hnsw.efSearch = self.ef_search
            return faiss.IndexIDMap2(inner)
        if self.kind == "pq":
            # 4-bit fast-scan PQ codes give a shortlist of ``refine * k`` faces, re-ranked exactly.
            coarse = faiss.IndexPQFastScan(dim, self.pq_m, 4, faiss.METRIC_INNER_PRODUCT)
            refined = faiss.IndexRefineFlat(coarse)
            refined.k_factor = float(self.refine)
            return faiss.IndexIDMap2(refined)
        # k-means needs about 39 points per list: a small gallery gets fewer lists.
        nlist = max(1, min(self.nlist, trained_on // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.nprobe = min(self.nprobe, nlist)
        return index

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def needs_training(self) -> bool:
        return not self._index.is_trained

    def train(self, vectors: np.ndarray) -> None:
        """IVF and PQ: learn centroids / codebooks from a sample of vectors (done on the first add)."""
        vectors = self._check_vectors(vectors)
        if self.kind == "ivf":
            self._index = self._make(trained_on=len(vectors))
        elif self.kind == "pq" and len(vectors) < _PQ_MIN_TRAIN:
            # Too few faces to learn 16 codewords per sub-space: pad with random unit vectors.
            # Harmless: the codes only pick the shortlist, which is re-ranked exactly.
            noise = np.random.default_rng(0).standard_normal((_PQ_MIN_TRAIN - len(vectors), self.dim))
            noise /= np.linalg.norm(noise, axis=1, keepdims=True)
            vectors = np.concatenate([vectors, noise.astype(np.float32)])
        self._index.train(vectors)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` (``N x dim``) under ``ids``; IVF and PQ train themselves on the first add. A NaN or
        infinite value is refused (:class:`VectorIndexError`): it would score NaN against every query."""
        vectors = check_finite(self._check_vectors(vectors))
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) != len(vectors):
            raise VectorIndexError(f"{len(ids)} ids for {len(vectors)} vectors")
        if len(ids) == 0:
            return
        if self.needs_training:
            self.train(vectors)
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        """Remove ``ids``; returns how many were present. HNSW and PQ are rebuilt without them."""
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) == 0 or len(self) == 0:
            return 0
        if self.kind in ("flat", "ivf"):
            return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))
        held = faiss.vector_to_array(self._index.id_map)  # type: ignore[attr-defined]
        if not np.isin(ids, held).any():  # nothing to remove: no rebuild
            return 0
        keep_ids, keep_vectors = self._contents()
        mask = ~np.isin(keep_ids, ids)
        self._index = self._make(trained_on=0)
        self.add(keep_ids[mask], keep_vectors[mask])
        return int((~mask).sum())

    def search(self, queries: np.ndarray, k: int = 5) -> SearchResult:
        """The ``k`` highest inner products for each query."""
        queries = self._check_vectors(queries)
        if k <= 0:
            raise VectorIndexError(f"k must be positive, got {k}")
        if len(self) == 0 or len(queries) == 0:
            return SearchResult(np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1))
        scores, ids = self._index.search(queries, k)
        scores[ids < 0] = -np.inf
        return SearchResult(scores, ids)

    def ids(self) -> np.ndarray:
        """Every id in the index (sorted)."""
        return np.sort(self._contents()[0])

    def vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which of ``ids`` the index holds (a boolean mask) and their stored vectors (zeros where not held):
        for checking the index against the vectors it should mirror."""
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        found = np.zeros((len(ids), self.dim), np.float32)
        if self.kind == "ivf":  # IVF keeps no id-to-position map: look through each list's ids
            held = np.zeros(len(ids), bool)
            invlists: Any = self._index.invlists  # type: ignore[attr-defined]
            for number in range(invlists.nlist):
                size = invlists.list_size(number)
                listed = faiss.rev_swig_ptr(invlists.get_ids(number), size) if size else np.zeros(0, np.int64)
                for row in np.flatnonzero(np.isin(ids, listed)):
                    offset = int(np.flatnonzero(listed == ids[row])[0])
                    code = faiss.rev_swig_ptr(invlists.get_single_code(number, offset), invlists.code_size)
                    found[row], held[row] = np.frombuffer(code.copy(), np.float32), True
            return held, found
        index: Any = self._index  # an IndexIDMap2, whose reconstruct_batch() takes ids
        held = np.isin(ids, faiss.vector_to_array(index.id_map))
        if held.any():
            found[held] = index.reconstruct_batch(ids[held])
        return held, found

    def _contents(self) -> tuple[np.ndarray, np.ndarray]:
        index: Any = self._index  # a faiss IndexIVF or IndexIDMap, whose attributes SWIG does not type
        if self.kind == "ivf":  # IVF-Flat codes are the raw float32 vectors
            invlists = index.invlists
            ids, vectors = [np.zeros(0, np.int64)], [np.zeros((0, self.dim), np.float32)]
            for number in range(invlists.nlist):
                size = invlists.list_size(number)
                if size:
                    ids.append(faiss.rev_swig_ptr(invlists.get_ids(number), size).copy())
                    codes = faiss.rev_swig_ptr(invlists.get_codes(number), size * invlists.code_size)
                    vectors.append(np.frombuffer(codes.copy(), np.float32).reshape(size, self.dim))
            return np.concatenate(ids), np.concatenate(vectors)
        ids_arr = faiss.vector_to_array(index.id_map).astype(np.int64)
        stored: np.ndarray = index.index.reconstruct_n(0, len(ids_arr)) if len(ids_arr) else \
            np.zeros((0, self.dim), np.float32)
        return ids_arr, stored

    def _check_vectors(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise IndexMismatchError(f"expected vectors of shape N x {self.dim}, got {vectors.shape}")
        return vectors

    def save(self, path: str | Path, *, revision: str) -> IndexMeta:
        """Write the index and its sidecar atomically (``name.tmp`` then ``os.replace``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = IndexMeta(self.model, self.dim, len(self), revision, self.kind)
        sidecar = _sidecar(path)
        tmp, tmp_sidecar = path.with_name(path.name + ".tmp"), sidecar.with_name(sidecar.name + ".tmp")
        try:
            try:
                faiss.write_index(self._index, str(tmp))
            except RuntimeError as exc:  # FAISS reports a failed write (disk full, no permission) this way
                raise OSError(f"cannot write index {path}: {str(exc).strip().splitlines()[-1]}") from None
            os.replace(tmp, path)
            # The sidecar goes last: an index without a matching sidecar is treated as stale.
            tmp_sidecar.write_text(json.dumps(asdict(meta), indent=2))
            os.replace(tmp_sidecar, sidecar)
        finally:  # a failed write leaves no temporary file behind
            for leftover in (tmp, tmp_sidecar):
                with contextlib.suppress(OSError):
                    leftover.unlink(missing_ok=True)
        return meta

    @classmethod
    def load(cls, path: str | Path, *, model: str, dim: int, revision: str | None = None) -> VectorIndex:
        """Read a saved index, checking model, dimension, count and (if given) revision."""
        path = Path(path)
        meta = read_meta(path)
        if meta.model != model or meta.dim != dim:
            raise IndexMismatchError(
                f"index {path} was built for {meta.model} ({meta.dim}-d), not {model} ({dim}-d)")
        if revision is not None and meta.revision != revision:
            raise IndexMismatchError(f"index {path} mirrors revision {meta.revision}, the store is at {revision}")
        try:
            raw = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise IndexCorruptError(f"cannot read index {path}: {exc}") from None
        # The file is replaced before its sidecar: a crash in between leaves a new index beside the old sidecar.
        # So what the file really holds is checked against the sidecar, not taken from it.
        if raw.ntotal != meta.count or raw.d != dim:
            raise IndexMismatchError(f"index {path} holds {raw.ntotal} vectors, its sidecar says {meta.count}")
        if kind_of(raw) != meta.kind:
            raise IndexMismatchError(f"index {path} is a {kind_of(raw) or 'foreign'} index, its sidecar says "
                                     f"{meta.kind}")
        index = cls(dim, model=model, kind=meta.kind)  # type: ignore[arg-type]
        index._index = raw
        return index


def kind_of(raw: faiss.Index) -> str | None:
    """The kind of index a FAISS index read from a file is, as :class:`VectorIndex` makes them (None: not
    one of those: another structure or metric)."""
    if raw.metric_type != faiss.METRIC_INNER_PRODUCT:
        return None
    if isinstance(raw, faiss.IndexIVFFlat):
        return "ivf"
    if not isinstance(raw, faiss.IndexIDMap2):
        return None
    inner = faiss.downcast_index(raw.index)
    kinds = {faiss.IndexFlatIP: "flat", faiss.IndexHNSWFlat: "hnsw", faiss.IndexRefineFlat: "pq"}
    return next((kind for cls, kind in kinds.items() if type(inner) is cls), None)


def check_finite(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` when every value is finite; else :class:`VectorIndexError` naming how many rows are not."""
    bad = ~np.isfinite(vectors).reshape(len(vectors), -1).all(axis=1)
    if bad.any():
        raise VectorIndexError(f"{int(bad.sum())} of {len(vectors)} vectors hold NaN or infinite values: "
                               "such a vector scores NaN against every query, so it is not indexed")
    return vectors


def read_meta(path: str | Path) -> IndexMeta:
    """The sidecar of a saved index."""
    sidecar = _sidecar(Path(path))
    try:
        return IndexMeta(**json.loads(sidecar.read_text()))
    except FileNotFoundError:
        raise IndexCorruptError(f"index sidecar {sidecar} is missing") from None
    except (ValueError, TypeError) as exc:
        raise IndexCorruptError(f"index sidecar {sidecar} is unreadable: {exc}") from None


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")
