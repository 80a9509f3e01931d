"""The databases and vector backends the gallery tests run on: SQLite and PostgreSQL, FAISS and Milvus Lite."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, select, text

POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
BACKENDS = ("faiss", "milvus")
DATABASES = ("sqlite", "postgresql")


def postgres_available() -> str | None:
    """None when the test PostgreSQL answers (its gallery tables are then dropped), else why not."""
    from enrollment.schema import Base

    try:
        engine = create_engine(POSTGRES, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        Base.metadata.drop_all(engine)
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        return f"no PostgreSQL at 127.0.0.1:5432 ({type(exc).__name__}: {str(exc).splitlines()[0][:80]})"


def database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh gallery database URL of ``kind``; PostgreSQL's tables are dropped afterwards."""
    from enrollment.schema import Base

    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'gallery.db'}"
        return
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    yield POSTGRES
    engine = create_engine(POSTGRES)
    Base.metadata.drop_all(engine)
    engine.dispose()


def vectors_uri(backend: str, tmp_path: Path) -> str:
    """A vector store URI of ``backend`` in ``tmp_path``; Milvus is skipped only where pymilvus is absent."""
    if backend == "milvus":
        for package in ("pymilvus", "milvus_lite"):
            if importlib.util.find_spec(package) is None:
                pytest.skip(f"{package} is not installed (pip install 'facerec[milvus]')")
        return f"milvus://{tmp_path / 'vectors.db'}"
    return str(tmp_path / "gallery.faiss")


def database_face_ids(url: str) -> list[int]:
    from enrollment.schema import FaceRecord

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return sorted(connection.scalars(select(FaceRecord.id)))
    finally:
        engine.dispose()


def faces_per_person(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "select i.name, count(f.id) from identities i join faces f on f.identity_id = i.id group by i.name"))
            return {name: count for name, count in rows}
    finally:
        engine.dispose()


def stored_ids(uri: str, *, model: str, dim: int, kind: str = "flat") -> list[int]:
    """The ids the vector store at ``uri`` holds (opened and closed again)."""
    from index import open_vector_store

    store = open_vector_store(uri, model=model, dim=dim, kind=kind)  # type: ignore[arg-type]
    try:
        return store.ids().tolist()
    finally:
        store.close()
