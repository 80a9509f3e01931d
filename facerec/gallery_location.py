"""Where a gallery lives: its database URL (from ``--db``, ``$FACEREC_DB`` or the user data folder) and its vector
store (from ``$FACEREC_VECTORS``, else a FAISS file beside the database).

Kept apart from :mod:`facerec.gallery` so that the commands that only read the database (``facerec list``,
``remove``, ``rename``, ``index``) find it without importing the face pipeline; :mod:`facerec.gallery` re-exports
these names.

>>> db_url("/tmp/gallery.db")
'sqlite:////tmp/gallery.db'
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from platformdirs import user_data_dir

__all__ = ["db_url", "default_db_url", "default_index_path", "default_vectors", "in_memory"]


def db_url(db: str | Path) -> str:
    """A SQLAlchemy URL as it is, or a SQLite file path as its URL.

    >>> db_url("postgresql+psycopg2://me@host/faces")
    'postgresql+psycopg2://me@host/faces'
    >>> db_url("/tmp/gallery.db")
    'sqlite:////tmp/gallery.db'
    """
    text = str(db)
    return text if "://" in text else f"sqlite:///{Path(text).expanduser().resolve()}"


def default_db_url() -> str:
    """``$FACEREC_DB``, else a SQLite file in the user data directory."""
    return db_url(os.environ.get("FACEREC_DB") or Path(user_data_dir("facerec")) / "gallery.db")


def default_index_path(url: str) -> Path:
    """Beside a SQLite file, with the suffix ``.faiss`` (``g.db``: ``g.faiss``; a database that is itself named
    ``*.faiss`` gets ``*.faiss.faiss``, never its own file); otherwise in the user data directory, named after
    the URL.

    >>> default_index_path("sqlite:////data/g.db"), default_index_path("sqlite:////data/people.faiss")
    (PosixPath('/data/g.faiss'), PosixPath('/data/people.faiss.faiss'))
    """
    from sqlalchemy.engine import make_url

    from enrollment.store import sqlite_path

    parsed = make_url(url)
    database = sqlite_path(url)
    if database is not None:
        beside = database.with_suffix(".faiss")
        return beside if beside != database else database.with_name(database.name + ".faiss")
    digest = hashlib.sha256(parsed.render_as_string(hide_password=True).encode()).hexdigest()[:12]
    return Path(user_data_dir("facerec")) / f"index-{digest}.faiss"


def in_memory(url: str) -> bool:
    """Whether ``url`` is an in-memory SQLite database (``sqlite://``, ``sqlite:///:memory:``, a
    ``mode=memory`` URI), which nothing on disk may outlive.

    >>> in_memory("sqlite://"), in_memory("sqlite:////data/g.db")
    (True, False)
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database or ""
    return parsed.drivername.startswith("sqlite") and (
        database.removeprefix("file:").split("?")[0] in ("", ":memory:") or "mode=memory" in url)


def default_vectors(url: str) -> str:
    """``$FACEREC_VECTORS`` (a FAISS file or a Milvus URI), else for an in-memory database an in-memory index
    (:data:`index.MEMORY`: nothing written to disk), else the FAISS file of :func:`default_index_path`."""
    if os.environ.get("FACEREC_VECTORS"):
        return os.environ["FACEREC_VECTORS"]
    if in_memory(url):
        from index import MEMORY  # imports FAISS: only here

        return MEMORY
    return str(default_index_path(url))
