"""The FAISS vector index: search, removal, atomic save, checked load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index import KINDS, IndexCorruptError, IndexMismatchError, VectorIndex, VectorIndexError


def unit(rows: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", KINDS)
def test_add_search_remove(kind):
    vectors = unit(300)
    ids = np.arange(1000, 1300)
    index = VectorIndex(16, model="m", kind=kind, nlist=4, nprobe=4)
    index.add(ids, vectors)
    assert len(index) == 300
    found = index.search(vectors[:5], k=3)
    assert found.ids[:, 0].tolist() == [1000, 1001, 1002, 1003, 1004]
    assert np.allclose(found.scores[:, 0], 1.0, atol=1e-5)
    assert index.remove(np.array([1000, 1001, 99999])) == 2
    assert len(index) == 298 and 1000 not in index.search(vectors[:1], k=5).ids
    assert sorted(index.ids().tolist()) == list(range(1002, 1300))


@pytest.mark.parametrize("kind", KINDS)
def test_tiny_gallery_and_reload(kind, tmp_path):
    """IVF and PQ must cope with galleries far smaller than their number of lists or codewords."""
    vectors = unit(3, dim=128, seed=1)
    index = VectorIndex(128, model="m", kind=kind)
    index.add(np.array([10, 11, 12]), vectors)
    assert index.search(vectors, k=2).ids[:, 0].tolist() == [10, 11, 12]
    index.save(tmp_path / "g.faiss", revision="1")
    loaded = VectorIndex.load(tmp_path / "g.faiss", model="m", dim=128, revision="1")
    assert loaded.kind == kind and loaded.search(vectors, k=1).ids[:, 0].tolist() == [10, 11, 12]
    loaded.add(np.array([13]), unit(1, dim=128, seed=2))
    assert loaded.remove(np.array([10])) == 1 and sorted(loaded.ids().tolist()) == [11, 12, 13]


def test_pq_shortlist_finds_genuine_probes():
    """PQ codes plus exact re-ranking find a noisy copy's source among 20k faces, scored exactly."""
    rng = np.random.default_rng(3)
    data = unit(20000, dim=128, seed=4)
    picks = rng.integers(0, len(data), 50)
    queries = 0.7 * data[picks] + 0.714 * unit(50, dim=128, seed=5)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    index = VectorIndex(128, model="m", kind="pq")
    index.add(np.arange(len(data)), data)
    found = index.search(queries, k=1)
    assert found.ids[:, 0].tolist() == picks.tolist()
    assert np.allclose(found.scores[:, 0], np.einsum("ij,ij->i", queries, data[picks]), atol=1e-5)


def test_empty_index_and_short_results():
    index = VectorIndex(16, model="m")
    empty = index.search(unit(2), k=3)
    assert (empty.ids == -1).all() and np.isneginf(empty.scores).all()
    index.add(np.array([5]), unit(1))
    found = index.search(unit(1), k=3)
    assert found.ids[0].tolist() == [5, -1, -1]


def test_shape_and_argument_checks():
    index = VectorIndex(16, model="m")
    with pytest.raises(IndexMismatchError):
        index.add(np.array([1]), unit(1, dim=8))
    with pytest.raises(VectorIndexError):
        index.add(np.array([1, 2]), unit(1))
    with pytest.raises(VectorIndexError):
        VectorIndex(16, model="m", kind="lsh")  # type: ignore[arg-type]
    with pytest.raises(VectorIndexError):
        index.search(unit(1), k=0)


def test_save_and_load_check_the_sidecar(tmp_path):
    path = tmp_path / "g.faiss"
    index = VectorIndex(16, model="m")
    index.add(np.arange(10), unit(10))
    meta = index.save(path, revision="7")
    assert meta.count == 10 and json.loads((tmp_path / "g.faiss.json").read_text())["revision"] == "7"
    assert not list(tmp_path.glob("*.tmp"))
    loaded = VectorIndex.load(path, model="m", dim=16, revision="7")
    assert loaded.search(unit(10)[:1], 1).ids[0, 0] == 0
    with pytest.raises(IndexMismatchError, match="built for m"):
        VectorIndex.load(path, model="other", dim=16)
    with pytest.raises(IndexMismatchError, match="revision"):
        VectorIndex.load(path, model="m", dim=16, revision="8")


def test_damaged_files_are_reported(tmp_path):
    path = tmp_path / "g.faiss"
    with pytest.raises(IndexCorruptError, match="missing"):
        VectorIndex.load(path, model="m", dim=16)
    index = VectorIndex(16, model="m")
    index.add(np.arange(3), unit(3))
    index.save(path, revision="1")
    path.write_bytes(b"garbage")
    with pytest.raises(IndexCorruptError):
        VectorIndex.load(path, model="m", dim=16)
    (tmp_path / "g.faiss.json").write_text("{")
    with pytest.raises(IndexCorruptError, match="unreadable"):
        VectorIndex.load(path, model="m", dim=16)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_vectors_that_are_not_finite_are_refused(bad):
    """A NaN vector scores NaN against every query, which compares as neither above nor below a threshold."""
    index = VectorIndex(16, model="m")
    vectors = unit(3)
    vectors[1, 4] = bad
    with pytest.raises(VectorIndexError, match="1 of 3 vectors hold NaN or infinite values"):
        index.add(np.array([1, 2, 3]), vectors)
    assert len(index) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_stored_vectors_are_read_back_by_id(kind):
    vectors = unit(40)
    index = VectorIndex(16, model="m", kind=kind, nlist=2)
    index.add(np.arange(100, 140), vectors)
    held, found = index.vectors(np.array([139, 5, 100]))
    assert held.tolist() == [True, False, True]
    assert np.allclose(found[[0, 2]], vectors[[39, 0]], atol=1e-6) and not found[1].any()


@pytest.mark.parametrize("new_kind", ["hnsw", "pq", "ivf"])
def test_a_crash_between_the_two_renames_is_caught(tmp_path, new_kind):
    """`save` replaces the index, then its sidecar: a crash in between leaves a new kind of index beside the old
    sidecar, of the same count. Loading it as the sidecar's kind made `remove` crash (remove_ids not implemented
    for HNSW); the real kind is checked instead."""
    path, vectors = tmp_path / "g.faiss", unit(10)
    flat = VectorIndex(16, model="m")
    flat.add(np.arange(10), vectors)
    flat.save(path, revision="3")
    other = VectorIndex(16, model="m", kind=new_kind, nlist=2)  # type: ignore[arg-type]
    other.add(np.arange(10), vectors)
    import faiss

    faiss.write_index(other._index, str(path))  # the first rename happened, the second did not
    with pytest.raises(IndexMismatchError, match=f"is a {new_kind} index, its sidecar says flat"):
        VectorIndex.load(path, model="m", dim=16)
    faiss.write_index(faiss.IndexIDMap2(faiss.IndexFlatL2(16)), str(path))  # another metric: no kind of ours
    with pytest.raises(IndexMismatchError):
        VectorIndex.load(path, model="m", dim=16)
