"""The SQL gallery store, on a real SQLite file and on PostgreSQL when one answers."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from enrollment import (
    DuplicateIdentityError,
    GalleryError,
    GalleryStore,
    ModelMismatchError,
    NewFace,
    UnknownIdentityError,
)
from enrollment.schema import Base

POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        Base.metadata.drop_all(engine)
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        return f"no PostgreSQL at 127.0.0.1:5432 ({type(exc).__name__}: {str(exc).splitlines()[0][:80]})"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gallery.db'}"
        return
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    yield POSTGRES
    engine = create_engine(POSTGRES)
    Base.metadata.drop_all(engine)
    engine.dispose()


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
    GalleryStore(url, model="m:1", dim=4).close()
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
