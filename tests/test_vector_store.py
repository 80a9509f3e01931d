"""Every vector backend (FAISS file, Milvus Lite) behind the same protocol, with the same answers."""

from __future__ import annotations

import numpy as np
import pytest

from index import (
    FaissStore,
    IndexMismatchError,
    VectorIndex,
    VectorIndexError,
    VectorStore,
    backend_of,
    open_vector_store,
)
from tests.backends import BACKENDS, vectors_uri
from tests.test_index import unit


@pytest.fixture(params=BACKENDS)
def uri(request, tmp_path) -> str:
    return vectors_uri(request.param, tmp_path)


def test_add_search_remove_reset(uri):
    store = open_vector_store(uri, model="m", dim=16)
    assert isinstance(store, VectorStore) and store.revision is None and len(store) == 0
    vectors = unit(300)
    store.add(np.arange(1000, 1300), vectors)
    assert len(store) == 300
    found = store.search(vectors[:5], k=3)
    assert found.ids[:, 0].tolist() == [1000, 1001, 1002, 1003, 1004]
    assert np.allclose(found.scores[:, 0], 1.0, atol=1e-5)
    exact = np.argsort(-(vectors[:5] @ vectors.T), axis=1)[:, :3] + 1000
    assert found.ids.tolist() == exact.tolist()  # inner product, best first, as FAISS exact search
    assert store.remove(np.array([1000, 1001, 99999])) == 2
    assert len(store) == 298 and 1000 not in store.search(vectors[:1], k=5).ids
    assert store.ids().tolist() == list(range(1002, 1300))
    short = store.search(vectors[:1], k=400)
    assert (short.ids[0, 298:] == -1).all() and np.isneginf(short.scores[0, 298:]).all()
    with pytest.raises(IndexMismatchError):
        store.add(np.array([1]), unit(1, dim=8))
    with pytest.raises(VectorIndexError):
        store.search(vectors[:1], k=0)
    store.reset()
    assert len(store) == 0 and store.revision is None
    store.close()


def test_revision_model_and_dimension_survive_a_reopen(uri):
    store = open_vector_store(uri, model="m", dim=16)
    store.add(np.arange(5), unit(5))
    store.commit(7)
    store.close()
    again = open_vector_store(uri, model="m", dim=16)
    assert again.revision == 7 and again.ids().tolist() == [0, 1, 2, 3, 4]
    again.close()
    other = open_vector_store(uri, model="other", dim=16)  # another model's vectors are not reused
    assert other.revision is None and len(other) == 0
    other.close()
    wider = open_vector_store(uri, model="other", dim=32)
    assert wider.revision is None and len(wider) == 0
    wider.close()


def test_uris_pick_the_backend(tmp_path):
    assert isinstance(open_vector_store(tmp_path / "g.faiss", model="m", dim=4), FaissStore)
    assert backend_of("http://milvus:19530") == backend_of(f"milvus://{tmp_path}/v.db") == "milvus"
    assert backend_of("https://milvus:19530") == backend_of("tcp://milvus:19530") == "milvus"
    assert backend_of(str(tmp_path / "g.faiss")) == backend_of(f"faiss://{tmp_path}/g.faiss") == "faiss"


def test_a_bare_path_is_a_faiss_file_whatever_its_name(tmp_path):
    """A FAISS file named faces.db is a FAISS file: only milvus:// picks Milvus Lite."""
    assert backend_of("faces.db") == backend_of(str(tmp_path / "faces.db")) == "faiss"
    store = open_vector_store(tmp_path / "faces.db", model="m", dim=16)
    assert isinstance(store, FaissStore)
    store.add(np.arange(3), unit(3))
    store.commit(1)
    store.close()
    again = VectorIndex.load(tmp_path / "faces.db", model="m", dim=16)  # a FAISS index, read back as one
    assert again.ids().tolist() == [0, 1, 2]
    assert isinstance(open_vector_store(f"faiss://{tmp_path / 'faces.db'}", model="m", dim=16), FaissStore)


def test_what_cannot_be_told_apart_is_refused(tmp_path):
    with pytest.raises(VectorIndexError, match="unknown vector store scheme in postgresql://me:\\*\\*\\*@db/x"):
        open_vector_store("postgresql://me:secret@db/x", model="m", dim=4)
    folder = tmp_path / "faces.db"  # what Milvus Lite makes, named the old way, without milvus://
    folder.mkdir()
    (folder / "data").write_text("Milvus Lite's own files")
    with pytest.raises(VectorIndexError, match=f"is a folder.*milvus://{folder}"):
        open_vector_store(folder, model="m", dim=4)
    assert (folder / "data").read_text() == "Milvus Lite's own files" and len(list(folder.iterdir())) == 1


def test_a_milvus_lite_path_ends_in_db(tmp_path):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    with pytest.raises(VectorIndexError, match="a path ending in .db"):
        open_vector_store(f"milvus://{tmp_path / 'faces'}", model="m", dim=4)


def test_faiss_path_imports_no_milvus_or_ray():
    import subprocess
    import sys

    code = ("import sys, enrollment, index, facerec.gallery; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pymilvus', 'milvus_lite', 'ray')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_vectors_that_are_not_finite_are_refused_by_every_backend(uri):
    store = open_vector_store(uri, model="m", dim=16)
    vectors = unit(4)
    vectors[2, 0] = np.nan
    with pytest.raises(VectorIndexError, match="NaN or infinite"):
        store.add(np.arange(4), vectors)
    assert len(store) == 0
    store.add(np.arange(4), unit(4))
    held, found = store.vectors(np.array([3, 9]))
    assert held.tolist() == [True, False] and np.allclose(found[0], unit(4)[3], atol=1e-6)
    store.close()


def test_an_in_memory_store_writes_nothing(tmp_path, monkeypatch):
    from index import MEMORY

    monkeypatch.chdir(tmp_path)
    for uri in (MEMORY, f"faiss://{MEMORY}"):
        store = open_vector_store(uri, model="m", dim=16)
        assert isinstance(store, FaissStore) and store.path is None and store.location == MEMORY
        store.add(np.arange(3), unit(3))
        store.commit(1)
        assert store.revision == 1 and store.search(unit(3)[:1], k=1).ids[0, 0] == 0
        store.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["thesis.txt", "notes.md", "v.bin", "empty"])
def test_a_file_that_is_not_an_index_is_never_overwritten(tmp_path, name):
    from index import ForeignFileError

    path = tmp_path / name
    path.write_bytes(b"" if name == "empty" else b"my thesis\n" * 100)
    before = path.read_bytes()
    with pytest.raises(ForeignFileError, match="not a facerec vector index"):
        open_vector_store(path, model="m", dim=16)
    with pytest.raises(ForeignFileError):
        open_vector_store(f"faiss://{path}", model="m", dim=16)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [name]


def test_an_index_whose_sidecar_was_never_written_is_ours(tmp_path):
    """A crash before the first sidecar leaves a FAISS index alone: it is ours, and is rebuilt, not refused."""
    import faiss

    index = VectorIndex(16, model="m")
    index.add(np.arange(3), unit(3))
    faiss.write_index(index._index, str(tmp_path / "g.faiss"))
    store = open_vector_store(tmp_path / "g.faiss", model="m", dim=16)
    assert store.revision is None and len(store) == 0  # unknown: the gallery rebuilds it
    store.add(np.arange(5), unit(5))
    store.commit(2)
    assert VectorIndex.load(tmp_path / "g.faiss", model="m", dim=16, revision="2").ids().tolist() == [0, 1, 2, 3, 4]


def test_a_file_put_in_the_index_s_place_later_is_not_overwritten(tmp_path):
    path = tmp_path / "g.faiss"
    store = open_vector_store(path, model="m", dim=16)
    store.add(np.arange(3), unit(3))
    store.commit(1)
    path.unlink()
    (tmp_path / "g.faiss.json").unlink()
    path.write_text("someone else's file")
    with pytest.raises(OSError, match="not a facerec vector index"):
        store.commit(2)
    assert path.read_text() == "someone else's file"


def test_milvus_lite_on_a_file_is_refused(tmp_path):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    from index import ForeignFileError

    notes = tmp_path / "notes.db"
    notes.write_text("my notes")
    with pytest.raises(ForeignFileError, match="is a file, not a Milvus Lite database"):
        open_vector_store(f"milvus://{notes}", model="m", dim=4)
    assert notes.read_text() == "my notes"
