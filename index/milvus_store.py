"""Vectors in Milvus through pymilvus's ``MilvusClient``: Milvus Lite embedded, or a server.

``milvus:///data/faces.db`` (a local path ending in ``.db``, a folder Milvus Lite makes) runs Milvus
Lite inside this process; ``http://host:19530`` talks to a Milvus server, with the same code. One collection
(``facerec_faces``, or ``#name`` at the end of the URI) holds ``id`` (int64 primary key) and
``vector`` (float, inner product); its properties record the model, dimension, kind and the
database revision applied, checked on open.

Milvus Lite serves one process at a time (it locks its folder): a second process waits for
it (``FACEREC_MILVUS_LITE_WAIT`` seconds, default 600), then gives up with a clear error.
Several processes sharing one gallery should share a Milvus server.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

from index.errors import ForeignFileError, IndexMismatchError, VectorIndexError
from index.schemes import MILVUS_SERVER_SCHEMES
from index.vector_index import SearchResult, check_finite

__all__ = ["MilvusStore", "INDEX_TYPES"]

#: Our index kinds as Milvus index types (``pq`` has no Milvus Lite equivalent: IVF_SQ8 is nearest).
INDEX_TYPES = {"flat": ("FLAT", {}), "hnsw": ("HNSW", {"M": 32, "efConstruction": 80}),
               "ivf": ("IVF_FLAT", {"nlist": 1024}), "pq": ("IVF_SQ8", {"nlist": 1024})}
SEARCH_PARAMS = {"flat": {}, "hnsw": {"ef": 128}, "ivf": {"nprobe": 32}, "pq": {"nprobe": 32}}
_BATCH = 10_000  # rows per insert: 5 MB of 128-d vectors, far below gRPC's message limit
_LIMIT = 16_384  # Milvus's largest top-k


class MilvusStore:
    """The :class:`~index.vector_store.VectorStore` protocol on one Milvus collection."""

    def __init__(self, uri: str, *, model: str, dim: int, kind: str | None = "flat") -> None:
        """``kind=None`` keeps the kind of the collection already there (``flat`` for a new one)."""
        if kind is not None and kind not in INDEX_TYPES:
            raise VectorIndexError(f"unknown index kind {kind!r}; use one of {', '.join(INDEX_TYPES)}")
        self.model, self.dim, self.kind = model, dim, kind or "flat"
        address, _, collection = str(uri).partition("#")
        self.collection = collection or "facerec_faces"
        self.lite_path: Path | None = None
        if not address.startswith(MILVUS_SERVER_SCHEMES):
            self.lite_path = Path(address.removeprefix("milvus://").removeprefix("milvus:")).expanduser().resolve()
            if self.lite_path.suffix != ".db":  # pymilvus runs Milvus Lite only for a path ending in .db
                raise VectorIndexError(f"a Milvus Lite database is a path ending in .db, not {self.lite_path} "
                                       f"(milvus://{self.lite_path.with_name(self.lite_path.name + '.db')})")
            _check_lite_folder(self.lite_path)
            self.lite_path.parent.mkdir(parents=True, exist_ok=True)
            address = str(self.lite_path)
        self.uri = address
        self.client = self._connect(address)
        self._revision: int | None = None
        self._open_collection(keep_kind=kind is None)

    # -- connection and collection ---------------------------------------------------

    def _connect(self, address: str) -> MilvusClient:
        wait = float(os.environ.get("FACEREC_MILVUS_LITE_WAIT", "600")) if self.lite_path else 0.0
        deadline = time.monotonic() + wait
        while True:
            try:
                return MilvusClient(address)
            except OSError as exc:  # a file or folder in the way of Milvus Lite's own (made meanwhile)
                raise VectorIndexError(f"cannot open Milvus Lite at {address}: {exc.strerror or exc}") from None
            except MilvusException as exc:
                if time.monotonic() >= deadline:
                    hint = (" (Milvus Lite serves one process at a time: another one holds it; "
                            "share a Milvus server, http://host:19530, between processes)") if self.lite_path else ""
                    raise VectorIndexError(f"cannot open Milvus at {self.location}: {exc.message}{hint}") from None
                time.sleep(0.5)

    def _properties(self) -> dict[str, str]:
        properties = self.client.describe_collection(self.collection).get("properties", {})
        return {str(key): str(value) for key, value in properties.items()}

    def _open_collection(self, *, keep_kind: bool = False) -> None:
        if not self.client.has_collection(self.collection):
            self._create()
            return
        self.client.load_collection(self.collection)  # a reopened collection starts released
        properties = self._properties()
        if keep_kind and properties.get("facerec.kind") in INDEX_TYPES:
            self.kind = properties["facerec.kind"]
        if properties.get("facerec.model") != self.model or properties.get("facerec.dim") != str(self.dim) \
                or properties.get("facerec.kind") != self.kind:
            self.reset()  # another model's vectors: a cache of the database like any other, rebuilt
            return
        revision = properties.get("facerec.revision", "")
        self._revision = int(revision) if revision.lstrip("-").isdigit() and int(revision) >= 0 else None

    def _create(self) -> None:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        index_type, params = INDEX_TYPES[self.kind]
        index_params = self.client.prepare_index_params()
        index_params.add_index(field_name="vector", index_type=index_type, metric_type="IP", params=params)
        self.client.create_collection(self.collection, schema=schema, index_params=index_params,
                                      consistency_level="Strong")
        self._set({"facerec.model": self.model, "facerec.dim": str(self.dim), "facerec.kind": self.kind,
                   "facerec.revision": "-1"})
        self._revision = None

    def _set(self, properties: dict[str, str]) -> None:
        self.client.alter_collection_properties(self.collection, properties=properties)

    # -- the VectorStore protocol ------------------------------------------------------

    @property
    def location(self) -> str:
        return f"{self.uri}#{self.collection}"

    @property
    def revision(self) -> int | None:
        return self._revision

    def __len__(self) -> int:
        rows = self.client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = check_finite(self._check(vectors))
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) != len(vectors):
            raise VectorIndexError(f"{len(ids)} ids for {len(vectors)} vectors")
        for start in range(0, len(ids), _BATCH):
            chunk = slice(start, start + _BATCH)
            rows = [{"id": int(i), "vector": v} for i, v in zip(ids[chunk], vectors[chunk])]
            self.client.upsert(self.collection, rows)

    def remove(self, ids: np.ndarray) -> int:
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        removed = 0
        for start in range(0, len(ids), _BATCH):
            chunk = [int(i) for i in ids[start:start + _BATCH]]
            present = self.client.get(self.collection, ids=chunk, output_fields=["id"])
            if present:
                self.client.delete(self.collection, ids=[int(row["id"]) for row in present])
                removed += len(present)
        return removed

    def search(self, queries: np.ndarray, k: int = 5) -> SearchResult:
        queries = self._check(queries)
        if k <= 0:
            raise VectorIndexError(f"k must be positive, got {k}")
        scores = np.full((len(queries), k), -np.inf, np.float32)
        ids = np.full((len(queries), k), -1, np.int64)
        if len(queries) == 0:
            return SearchResult(scores, ids)
        hits = self.client.search(self.collection, data=list(queries), limit=min(k, _LIMIT), output_fields=[],
                                  search_params={"metric_type": "IP", "params": SEARCH_PARAMS[self.kind]})
        for row, found in enumerate(hits):
            for column, hit in enumerate(found):
                ids[row, column], scores[row, column] = int(hit["id"]), float(hit["distance"])
        return SearchResult(scores, ids)

    def ids(self) -> np.ndarray:
        iterator = self.client.query_iterator(self.collection, batch_size=10_000, filter="id >= 0",
                                              output_fields=["id"])
        found: list[int] = []
        try:
            while batch := iterator.next():
                found.extend(int(row["id"]) for row in batch)
        finally:
            iterator.close()
        return np.sort(np.array(found, np.int64))

    def vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        stored: dict[int, np.ndarray] = {}
        for start in range(0, len(ids), _BATCH):
            for row in self.client.get(self.collection, ids=[int(i) for i in ids[start:start + _BATCH]],
                                       output_fields=["vector"]):
                stored[int(row["id"])] = np.asarray(row["vector"], np.float32)
        held = np.array([int(i) in stored for i in ids], bool)
        found = np.zeros((len(ids), self.dim), np.float32)
        for n in np.flatnonzero(held):
            found[n] = stored[int(ids[n])]
        return held, found

    def reset(self, kind: str | None = None) -> None:
        if kind is not None and kind not in INDEX_TYPES:
            raise VectorIndexError(f"unknown index kind {kind!r}; use one of {', '.join(INDEX_TYPES)}")
        self.kind = kind or self.kind
        if self.client.has_collection(self.collection):
            self.client.drop_collection(self.collection)
        self._create()

    def commit(self, revision: int, *, durable: bool = True) -> None:
        # Sealing the new rows matters for speed too: Milvus Lite searches unflushed rows row by row, about
        # 40 times slower than flushed segments (measured, scripts/bench_vectors.py).
        self.client.flush(self.collection)
        self._set({"facerec.revision": str(revision)})
        self._revision = revision

    def close(self) -> None:
        self.client.close()
        if self.lite_path is not None:  # MilvusClient.close leaves Milvus Lite's server (and its lock) up
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(str(self.lite_path))

    def _check(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise IndexMismatchError(f"expected vectors of shape N x {self.dim}, got {vectors.shape}")
        return vectors



#: What Milvus Lite keeps in its folder: a folder with none of these and something else in it is not its own.
_LITE_ENTRIES = ("LOCK", "collections", "databases")


def _check_lite_folder(path: Path) -> None:
    """Refuse a Milvus Lite path where a file, or a folder that is not Milvus Lite's, is (its data would go into
    someone else's folder, or Milvus Lite fails on the file with a traceback)."""
    hint = "name a new path, or a Milvus Lite database, with --vectors milvus:///path/faces.db"
    if path.exists() and not path.is_dir():
        raise ForeignFileError(f"{path} is a file, not a Milvus Lite database (a folder Milvus Lite makes): "
                               "facerec will not use it", hint=hint)
    if path.is_dir() and any(path.iterdir()) and not any((path / entry).exists() for entry in _LITE_ENTRIES):
        raise ForeignFileError(f"{path} is a folder of other files, not a Milvus Lite database: facerec will not "
                               "write into it", hint=hint)
