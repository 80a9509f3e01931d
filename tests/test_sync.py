"""The vector store follows the database: every backend (FAISS, Milvus Lite) on every database
(SQLite, PostgreSQL), through changes, other writers, crashes and rebuilds. Synthetic vectors: no model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from enrollment import Gallery, GalleryStore, NewFace
from tests.backends import BACKENDS, DATABASES, database, database_face_ids, faces_per_person, stored_ids, vectors_uri

ROOT = Path(__file__).resolve().parents[1]
DIM = 16

WRITER = """
import sys
import numpy as np
from enrollment import Gallery, NewFace
url, vectors, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
gallery = Gallery(url, model="m:1", dim=16, vectors=vectors)
for n in range(first, last):
    rows = np.random.default_rng(n).standard_normal((3, 16)).astype(np.float32)
    faces = [NewFace(v / np.linalg.norm(v), f"{n:032d}{j:032d}") for j, v in enumerate(rows)]
    gallery.enroll(f"p{n}", faces)
gallery.close()
"""


@pytest.fixture(params=DATABASES)
def url(request, tmp_path):
    yield from database(request.param, tmp_path)


@pytest.fixture(params=BACKENDS)
def vectors(request, tmp_path) -> str:
    return vectors_uri(request.param, tmp_path)


def faces(person: int, count: int = 3) -> list[NewFace]:
    rows = np.random.default_rng(person).standard_normal((count, DIM)).astype(np.float32)
    return [NewFace(v / np.linalg.norm(v), f"{person:032d}{j:032d}") for j, v in enumerate(rows)]


# Subprocess tests take 10-25 s each on a loaded 2-core machine: the default run kills Milvus Lite on SQLite
# (test_gallery kills FAISS on real photos); every other pair, and the two writers, run with -m slow.
PAIRS = [pytest.param((db, backend), id=f"{db}-{backend}",
                      marks=() if (db, backend) == ("sqlite", "milvus") else (pytest.mark.slow,))
         for db in DATABASES for backend in BACKENDS]


@pytest.fixture()
def pair(request, tmp_path):
    db, backend = request.param
    for url in database(db, tmp_path):
        yield url, vectors_uri(backend, tmp_path)


def open_gallery(url: str, vectors: str) -> Gallery:
    return Gallery(url, model="m:1", dim=DIM, vectors=vectors)


def assert_in_step(url: str, vectors: str) -> None:
    assert stored_ids(vectors, model="m:1", dim=DIM) == database_face_ids(url)


def test_enroll_search_remove_rename_rebuild(url, vectors, monkeypatch):
    gallery = open_gallery(url, vectors)
    ada, bob = gallery.enroll("ada", faces(1)), gallery.enroll("bob", faces(2))
    probe = faces(1)[0].embedding
    [best, *_] = gallery.search(probe[None], k=2)[0]
    assert (best.name, best.face_id) == ("ada", ada.added_ids[0]) and best.score == pytest.approx(1.0, abs=1e-5)
    gallery.rename("ada", "ada lovelace")
    assert gallery.search(probe[None], k=1)[0][0].name == "ada lovelace"
    assert gallery.remove("ada lovelace") == 3
    assert [c.name for c in gallery.search(probe[None], k=5)[0]] == ["bob"]
    assert gallery.stats()["in_step"] and gallery.stats()["indexed"] == len(bob.added_ids)
    monkeypatch.setattr("enrollment.gallery.REBUILD_BATCH", 2)  # streamed: several batches
    gallery.enroll("cat", faces(3))
    gallery.rebuild()
    assert gallery.rebuilt and gallery.stats()["in_step"] and len(gallery.index) == 6
    gallery.close()
    assert_in_step(url, vectors)


def test_another_writer_is_seen_on_the_next_query_without_a_rebuild(url, vectors):
    reader = open_gallery(url, vectors)
    writer = GalleryStore(url, model="m:1", dim=DIM)  # another process's writes: the database only
    writer.enroll("ada", faces(1))
    assert reader.search(faces(1)[0].embedding[None], k=1)[0][0].name == "ada"
    assert reader.last_sync == "catch-up"
    writer.remove("ada")
    writer.enroll("bob", faces(2))
    assert [c.name for c in reader.search(faces(1)[0].embedding[None], k=5)[0]] == ["bob"]
    assert reader.last_sync == "catch-up" and len(reader.index) == 3
    writer.close()
    reader.close()


def test_a_crash_between_database_and_vector_store_is_caught_up(url, vectors):
    gallery = open_gallery(url, vectors)
    gallery.enroll("ada", faces(1))
    gallery.close()
    store = GalleryStore(url, model="m:1", dim=DIM)  # committed to SQL, then "crashed" before the vectors
    store.enroll("bob", faces(2))
    store.remove("ada")
    store.close()
    gallery = open_gallery(url, vectors)
    assert gallery.last_sync == "catch-up" and gallery.stats()["in_step"]
    gallery.close()
    assert_in_step(url, vectors)


def writer(url: str, vectors: str, first: int, last: int) -> subprocess.Popen:
    env = {**os.environ, "FACEREC_MILVUS_LITE_WAIT": "300"}
    return subprocess.Popen([sys.executable, "-c", WRITER, url, vectors, str(first), str(last)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("pair", PAIRS, indirect=True)
def test_kill_9_mid_run_then_rerun_enrolls_everyone_once(pair):
    url, vectors = pair
    people = 150
    child = writer(url, vectors, 0, people)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and child.poll() is None:
        try:
            if len(faces_per_person(url)) >= 10:
                break
        except Exception:  # noqa: BLE001 - tables not created yet
            pass
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    enrolled = faces_per_person(url)
    assert 10 <= len(enrolled) < people, "the kill must land in the middle of the run"
    assert set(enrolled.values()) == {3}, "nobody is half-enrolled"
    gallery = open_gallery(url, vectors)
    assert gallery.stats()["in_step"] and len(gallery.index) == 3 * len(enrolled)
    gallery.close()
    assert_in_step(url, vectors)
    finish = writer(url, vectors, 0, people)
    assert finish.wait(timeout=300) == 0, finish.stderr.read().decode()[-2000:]
    assert faces_per_person(url) == {f"p{n}": 3 for n in range(people)}
    assert_in_step(url, vectors)


@pytest.mark.parametrize("pair", [pytest.param(*p.values, id=p.id, marks=pytest.mark.slow) for p in PAIRS],
                         indirect=True)
def test_two_writers_at_once_lose_nothing(pair):
    url, vectors = pair
    processes = [writer(url, vectors, 0, 40), writer(url, vectors, 40, 80)]
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read().decode()[-2000:]
    assert faces_per_person(url) == {f"p{n}": 3 for n in range(80)}
    gallery = open_gallery(url, vectors)
    assert gallery.stats()["in_step"] and gallery.search(faces(57)[1].embedding[None], k=1)[0][0].name == "p57"
    gallery.close()
    assert_in_step(url, vectors)


def rewrite_stored_vector(vectors: str, face_id: int, new: np.ndarray) -> None:
    """Change one vector in the vector store behind the gallery's back, keeping its revision (a tampered file)."""
    from index import open_vector_store

    store = open_vector_store(vectors, model="m:1", dim=DIM, kind=None)
    revision = store.revision
    assert revision is not None
    store.remove(np.array([face_id]))
    store.add(np.array([face_id]), new[None])
    store.commit(revision)
    store.close()


def test_rewritten_vectors_in_the_store_are_caught_on_open(url, vectors):
    """A vector rewritten in g.faiss (sidecar and revision left right) changed answers silently: a stranger's
    face came back as ada's. The store is checked against the database on open, and rebuilt from it."""
    gallery = open_gallery(url, vectors)
    ada = gallery.enroll("ada", faces(1))
    gallery.enroll("bob", faces(2))
    gallery.close()
    stranger = faces(99)[0].embedding
    rewrite_stored_vector(vectors, ada.added_ids[0], stranger)
    gallery = open_gallery(url, vectors)
    found = gallery.search(stranger[None], k=1)[0]
    assert not found or found[0].score < 0.9, "the stranger came back as ada"
    assert gallery.search(faces(1)[0].embedding[None], k=1)[0][0].score == pytest.approx(1.0, abs=1e-5)
    assert gallery.disagreed is not None and "another vector" in gallery.disagreed and gallery.rebuilt
    gallery.close()
    again = open_gallery(url, vectors)  # the rebuilt store is saved: in step, checked, nothing to do
    assert again.disagreed is None and again.last_sync == "none"
    again.close()


def test_a_store_that_lost_a_face_is_rebuilt_on_open(url, vectors):
    gallery = open_gallery(url, vectors)
    ada = gallery.enroll("ada", faces(1))
    gallery.close()
    from index import open_vector_store

    store = open_vector_store(vectors, model="m:1", dim=DIM, kind=None)
    store.remove(np.array(ada.added_ids[:1]))
    store.commit(store.revision or 0)
    store.close()
    gallery = open_gallery(url, vectors)
    assert len(gallery.index) == 3 and gallery.disagreed is not None and "missing" in gallery.disagreed
    gallery.close()


def test_a_torn_save_of_another_kind_is_rebuilt_and_removal_works(tmp_path):
    """Item 5: a new hnsw index beside the old flat sidecar (a crash between the two renames of `save`): `remove`
    committed, then crashed (remove_ids not implemented), and so did every later command."""
    import faiss

    from index import VectorIndex

    url, vectors = f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "g.faiss"
    gallery = open_gallery(url, str(vectors))
    gallery.enroll("ada", faces(1))
    gallery.enroll("bob", faces(2))
    gallery.close()
    hnsw = VectorIndex(DIM, model="m:1", kind="hnsw")
    hnsw.add(np.array(database_face_ids(url)), np.stack([f.embedding for f in faces(1) + faces(2)]))
    faiss.write_index(hnsw._index, str(vectors))  # the index was replaced, its (flat) sidecar was not
    gallery = open_gallery(url, str(vectors))
    assert gallery.rebuilt and gallery.kind == "flat"
    assert gallery.remove("ada") == 3
    assert [c.name for c in gallery.search(faces(1)[0].embedding[None], k=5)[0]] == ["bob"]
    gallery.close()
    assert_in_step(url, str(vectors))


def test_a_face_whose_vector_is_not_finite_is_never_indexed(tmp_path):
    """A NaN embedding written into the database (by hand or by another program) was indexed on a rebuild, and
    a NaN score compares as neither above nor below a threshold. It is left out; enrolling one is refused."""
    from sqlalchemy import create_engine, update

    from enrollment import GalleryError
    from enrollment.schema import FaceRecord

    url, vectors = f"sqlite:///{tmp_path / 'g.db'}", str(tmp_path / "g.faiss")
    gallery = open_gallery(url, vectors)
    ada = gallery.enroll("ada", faces(1))
    gallery.enroll("bob", faces(2))
    bad = np.full(DIM, np.nan, np.float32)
    with pytest.raises(GalleryError, match="NaN or infinite"):
        gallery.enroll("eve", [NewFace(bad, "e" * 64)])
    gallery.close()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(update(FaceRecord).where(FaceRecord.id == ada.added_ids[0]).values(embedding=bad.tobytes()))
    engine.dispose()
    for step in ("open", "rebuild"):
        gallery = open_gallery(url, vectors)
        if step == "rebuild":
            gallery.rebuild()
        assert ada.added_ids[0] not in gallery.index.ids().tolist() and len(gallery.index) == 5
        assert gallery.search(faces(1)[1].embedding[None], k=1)[0][0].name == "ada"
        gallery.close()
