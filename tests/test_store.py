"""The SQL gallery store, on a real SQLite file and on PostgreSQL when one answers."""

from __future__ import annotations

import numpy as np
import pytest

from enrollment import (
    DuplicateIdentityError,
    GalleryError,
    GalleryStore,
    ModelMismatchError,
    NewFace,
    UnknownIdentityError,
    read_info,
)
from tests.backends import DATABASES, database


@pytest.fixture(params=DATABASES)
def url(request, tmp_path):
    yield from database(request.param, tmp_path)


def face(seed: int, sha: str | None = None) -> NewFace:
    vector = np.random.default_rng(seed).standard_normal(4).astype(np.float32)
    return NewFace(vector / np.linalg.norm(vector), sha or f"{seed:064d}", source=f"{seed}.jpg",
                   box=(1, 2, 3, 4), score=0.99)


def test_enroll_list_rename_remove(url):
    store = GalleryStore(url, model="m:1", dim=4)
    first = store.enroll("ada", [face(1), face(2)], info={"team": "a"})
    assert len(first.added_ids) == 2 and (first.revision_before, first.revision) == (0, 1)
    again = store.enroll("ada", [face(1), face(3)])
    assert again.skipped == 1 and len(again.added_ids) == 1
    store.enroll("bob", [face(1)])  # the same photo may belong to another identity record
    assert [(s.name, s.faces) for s in store.identities()] == [("ada", 3), ("bob", 1)]
    assert store.identities()[0].info == {"team": "a"}
    store.rename("bob", "rob")
    with pytest.raises(DuplicateIdentityError):
        store.rename("rob", "ada")
    with pytest.raises(UnknownIdentityError):
        store.remove("nobody")
    ids, before, after = store.remove("ada")
    assert len(ids) == 3 and after == before + 1
    revision, all_ids, vectors = store.snapshot()
    assert revision == after and len(all_ids) == 1 and vectors.shape == (1, 4)
    assert store.names_for(all_ids.tolist()) == {int(all_ids[0]): "rob"}
    store.close()


def test_bad_vector_rolls_back_the_whole_enrollment(url):
    store = GalleryStore(url, model="m:1", dim=4)
    broken = NewFace(np.array([np.nan, 0, 0, 0], np.float32), "f" * 64)
    with pytest.raises(GalleryError):
        store.enroll("ada", [face(1), broken])
    with pytest.raises(ModelMismatchError):
        store.enroll("ada", [NewFace(np.zeros(8, np.float32), "e" * 64)])
    assert store.identities() == [] and store.revision() == 0
    store.close()


def test_a_gallery_is_bound_to_its_model(url):
    store = GalleryStore(url, model="m:1", dim=4)
    store.enroll("ada", [face(1)])
    store.close()
    with pytest.raises(ModelMismatchError, match="holds m:1 embeddings"):
        GalleryStore(url, model="other:1", dim=4)


def test_names_are_checked(url):
    store = GalleryStore(url, model="m:1", dim=4)
    with pytest.raises(GalleryError, match="1 to 255"):
        store.enroll("  ", [face(1)])
    store.close()


def test_unreachable_database_is_a_clear_error(tmp_path):
    with pytest.raises(GalleryError, match="cannot open"):
        GalleryStore(f"sqlite:///{tmp_path}/missing-dir/x.db", model="m", dim=4)


def test_an_empty_gallery_is_rebound_to_the_model_in_use(url):
    GalleryStore(url, model="m:1", dim=4).close()  # nothing in it could be mis-scored
    store = GalleryStore(url, model="other:1", dim=8)
    assert read_info(url) == ("other:1", 8)
    store.close()


def test_change_log_replays_every_change(url):
    store = GalleryStore(url, model="m:1", dim=4)
    ada = store.enroll("ada", [face(1), face(2)])
    bob = store.enroll("bob", [face(3)])
    nothing = store.changes_since(bob.revision)
    assert nothing is not None and nothing.revision == bob.revision and len(nothing.touched) == 0
    removed, _, after_remove = store.remove("ada")
    store.rename("bob", "rob")
    cat = store.enroll("cat", [face(4)])
    changes = store.changes_since(ada.revision)
    assert changes is not None and (changes.since, changes.revision) == (ada.revision, cat.revision)
    assert sorted(changes.touched.tolist()) == sorted(removed + bob.added_ids + cat.added_ids)
    assert sorted(changes.added_ids.tolist()) == sorted(bob.added_ids + cat.added_ids)
    assert np.allclose(changes.added_vectors[changes.added_ids.tolist().index(cat.added_ids[0])], face(4).embedding)
    assert store.changes_since(cat.revision + 1) is None  # ahead of the database: only a rebuild can say
    assert store.changes_since(0, limit=1) is None  # too many changes: a rebuild is cheaper
    batches = list(store.iter_faces(batch=1))
    assert [ids.tolist() for ids, _ in batches] == [[i] for i in sorted(bob.added_ids + cat.added_ids)]
    assert all(vectors.shape == (1, 4) for _, vectors in batches) and after_remove < cat.revision
    store.close()


def test_a_gallery_from_before_the_log_starts_it_at_its_revision(url):
    from sqlalchemy import delete, update

    from enrollment.schema import FaceChange, GalleryInfo

    store = GalleryStore(url, model="m:1", dim=4)
    store.enroll("ada", [face(1)])
    with store.session() as session, session.begin():  # what an older facerec left behind
        session.execute(delete(FaceChange))
        session.execute(update(GalleryInfo).values(log_from=None))
    store.close()
    store = GalleryStore(url, model="m:1", dim=4)
    assert store.changes_since(0) is None and store.changes_since(1) is not None
    store.close()
