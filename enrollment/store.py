"""The gallery store: identities and face embeddings in any SQLAlchemy database.

Knows nothing of images or networks: it takes vectors and metadata. Every change is
one transaction that also bumps the gallery's revision and writes the change log
(:class:`~enrollment.schema.FaceChange`), from which any vector store catches up.
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import quote

import numpy as np
from sqlalchemy import Engine, create_engine, delete, event, func, inspect, select, update
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from enrollment.errors import (
    DamagedRowError,
    DuplicateIdentityError,
    GalleryError,
    GalleryWarning,
    ModelMismatchError,
    NoGalleryError,
    UnknownIdentityError,
)
from enrollment.names import _shown, check_name, lookup_name
from enrollment.schema import Base, FaceChange, FaceRecord, GalleryInfo, GallerySetting, Identity, create_tables

__all__ = ["NewFace", "EnrollResult", "IdentitySummary", "Changes", "GalleryStore", "check_not_foreign",
           "database_errors", "look", "make_engine", "read_info", "reading_mode", "sqlite_path"]


@dataclass(frozen=True)
class NewFace:
    """A face to enroll: its embedding and where it came from."""

    embedding: np.ndarray
    image_sha256: str
    source: str | None = None
    box: Sequence[float] | None = None
    score: float | None = None
    detector: str | None = None


@dataclass(frozen=True)
class EnrollResult:
    name: str
    added_ids: list[int]
    added_vectors: np.ndarray
    skipped: int  # images already enrolled for this identity
    revision_before: int
    revision: int
    added_names: list[str] = field(default_factory=list)  # with enroll_many: the identity of each added face


@dataclass(frozen=True)
class IdentitySummary:
    name: str
    faces: int
    created_at: Any
    info: dict[str, Any] | None = field(default=None)


@dataclass(frozen=True)
class Changes:
    """What changed after revision ``since`` up to ``revision``: a vector store drops every ``touched`` face
    id, then adds ``added_ids`` (the touched faces that still exist) with their vectors. Applying it
    twice does no harm, so a crash between applying and recording the revision is safe."""

    since: int
    revision: int
    touched: np.ndarray
    added_ids: np.ndarray
    added_vectors: np.ndarray


def read_info(url: str) -> tuple[str, int] | None:
    """The model key and dimension of the gallery at ``url``, or None when there is none (nothing is created).

    Reads only the two columns every schema version has, so a gallery from an older facerec is found
    (and brought up to date when it is opened for use). A SQLite file that is not a database, or that
    holds another program's tables, is refused with :class:`GalleryError`. A gallery on read-only storage
    is read as it is (see :func:`reading_mode`).
    """
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        return None
    if GalleryInfo.__tablename__ not in look(url):
        return None
    with database_errors(url):
        engine = make_engine(url, writer=False)
        try:
            with engine.connect() as connection:
                row = connection.execute(select(GalleryInfo.model, GalleryInfo.dim).where(GalleryInfo.id == 1)).first()
            return (row[0], int(row[1])) if row is not None else None
        finally:
            engine.dispose()


def look(url: str) -> set[str]:
    """The tables of the database at ``url``, looked at without changing it: no file is made (a missing SQLite
    file has none), the journal mode is left as it is. Another program's SQLite file is refused (see
    :func:`check_not_foreign`), so that a caller that writes next never writes into it."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return set()
    with database_errors(url):
        engine = make_engine(url, writer=False)
        try:
            tables = set(inspect(engine).get_table_names())
        finally:
            engine.dispose()
    check_not_foreign(url, tables)
    return tables


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (also of a SQLite URI, ``sqlite:///file:/path/g.db?mode=ro&uri=true``), or None
    for an in-memory database, another database or a malformed URL.

    >>> sqlite_path("sqlite:///file:/data/g.db?mode=ro&uri=true")
    PosixPath('/data/g.db')
    """
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database or ""
    if not parsed.drivername.startswith("sqlite") or "mode=memory" in url:
        return None
    if database.startswith("file:"):
        database = database.removeprefix("file:").split("?")[0]
    return Path(database) if database not in ("", ":memory:") else None


def reading_mode(url: str) -> str | None:
    """How the SQLite gallery at ``url`` is opened when it cannot be written: None when it can (or it is no
    SQLite file); ``mode=ro`` when the URL says so, or the file is read-only but SQLite may still make its
    side files (``-shm``) or finds them there; ``immutable=1`` when the URL says so, or its folder cannot be
    written either (read-only storage) and no write-ahead log is pending there."""
    from sqlalchemy.engine import make_url

    path = sqlite_path(url)
    if path is None:
        return None
    query = make_url(url).query
    if query.get("immutable") == "1":
        return "immutable=1"
    if query.get("mode") == "ro":
        return "mode=ro"
    if not path.is_file():
        return None
    folder_writable = os.access(path.parent, os.W_OK)
    if folder_writable and os.access(path, os.W_OK):
        return None
    return "mode=ro" if folder_writable or _pending_log(path) else "immutable=1"


def _pending_log(path: Path) -> bool:
    """Whether the SQLite database at ``path`` has a write-ahead log with something in it."""
    log = Path(f"{path}-wal")
    return log.is_file() and log.stat().st_size > 0


def check_not_foreign(url: str, tables: set[str]) -> None:
    """Refuse a SQLite file that holds tables of another program and no gallery: facerec never writes
    into it. (A server database may hold other applications' tables beside the gallery's.)"""
    foreign = sorted(tables - set(Base.metadata.tables))
    if foreign and url.startswith("sqlite") and GalleryInfo.__tablename__ not in tables:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise GalleryError(f"{_safe(url)} is a database of another program (tables: {shown}), not a facerec "
                           "gallery: facerec will not write into it; choose another --db")


@contextmanager
def database_errors(url: str, doing: str = "cannot open gallery database") -> Iterator[None]:
    """Turn the database's own errors (no such file, not a database, read-only, no driver, a malformed URL)
    into :class:`GalleryError` naming the database (without its password)."""
    try:
        yield
    except DatabaseError as exc:
        raise GalleryError(f"{doing} {_safe(url)}: {_first_line(exc.orig)}{_storage_hint(url, opening=True)}") \
            from None
    except ArgumentError as exc:
        raise GalleryError(f"not a database URL or SQLite path: {_safe(url)} ({_first_line(exc)})") from None
    except ImportError as exc:
        raise GalleryError(f"no database driver for {_safe(url)}: {exc}") from None


def _storage_hint(url: str, *, opening: bool = False) -> str:
    """Why a SQLite gallery is read-only, for messages: " (...)", or "" when it can be written; ``opening``: and
    why it may not open."""
    from sqlalchemy.engine import make_url

    mode, path = reading_mode(url), sqlite_path(url)
    if mode is None or path is None:
        return ""
    if mode in {f"{key}={value}" for key, value in make_url(url).query.items()}:
        return f" (the URL says {mode})"
    if os.access(path.parent, os.W_OK):
        return f" ({path.name} cannot be written)"
    if opening and _pending_log(path):
        return (f" (its folder cannot be written, and its write-ahead log {path.name}-wal can only be read "
                f"where it can: copy {path.parent} somewhere writable)")
    return " (its folder cannot be written)"


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def make_engine(url: str, *, writer: bool = True) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE``
    so that concurrent writers queue instead of failing. ``writer=False`` changes nothing in the file
    (no switch to WAL), for looking at a database that may not be a gallery. A SQLite file that cannot be
    written is opened read-only (see :func:`reading_mode`), whatever ``writer`` says: it can be read, and SQLite
    refuses a write ("attempt to write a readonly database")."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    mode, path = reading_mode(url), sqlite_path(url)
    if mode is not None and path is not None:  # the URI is made here, for a path of any characters
        target = f"file:{quote(str(path.resolve()))}?{mode}"
        return create_engine(f"sqlite:///{path}", creator=lambda: sqlite3.connect(
            target, uri=True, timeout=60, check_same_thread=False))
    engine = create_engine(url, connect_args={"timeout": 60})
    if not writer:
        return engine

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class GalleryStore:
    """Identities and their face embeddings, bound to one embedding model.

    >>> store = GalleryStore("sqlite://", model="demo", dim=2)
    >>> store.enroll("ada", [NewFace(np.array([1.0, 0.0], np.float32), "ab" * 32)]).added_ids
    [1]
    """

    def __init__(self, url: str, *, model: str, dim: int) -> None:
        self.url, self.model, self.dim = url, model, dim
        #: Opened read-only (see :func:`reading_mode`): it is read as it is, and every write is refused.
        self.read_only = reading_mode(url) is not None
        tables = look(url)  # before anything is written: another program's SQLite file is refused
        with database_errors(url):
            self.engine = make_engine(url)
            if not self.read_only:
                create_tables(self.engine)
            elif GalleryInfo.__tablename__ not in tables:
                raise NoGalleryError(f"no gallery at {_safe(url)}, and it is read-only: nothing can be made there")
            self._sessions = sessionmaker(self.engine, expire_on_commit=False)
            self._bind_model()

    def _bind_model(self) -> None:
        """Bind a new gallery to the model; an existing one must match it, unless it holds no face at all
        (then nothing can be mis-scored, and it is bound to the model now in use)."""
        with self._sessions.begin() as session:
            if not self.read_only:  # unless another process made it first (then it is checked as found)
                _insert_new(session, GalleryInfo.__table__,
                            {"id": 1, "model": self.model, "dim": self.dim, "revision": 0, "log_from": 0})
            info = session.get(GalleryInfo, 1)
            if info is None:
                raise NoGalleryError(f"no gallery at {_safe(self.url)}, and it is read-only: nothing can be made there")
            if self.read_only:
                session.expunge(info)  # checked as it is: nothing below is written
            if info.model != self.model or info.dim != self.dim:
                session.execute(select(GalleryInfo.id).where(GalleryInfo.id == 1).with_for_update())
                if not session.scalar(select(func.count(FaceRecord.id))):
                    info.model, info.dim = self.model, self.dim
            if info is not None and (info.model != self.model or info.dim != self.dim):
                raise ModelMismatchError(
                    f"gallery {_safe(self.url)} holds {info.model} embeddings ({info.dim}-d); "
                    f"it cannot be used with {self.model} ({self.dim}-d): {_mismatch_hint(info.model, self.model)}"
                )
            if info is not None and info.log_from is None:  # a gallery from before the change log
                info.log_from = info.revision

    def session(self) -> Session:
        return self._sessions()

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """A write transaction whose database errors (read-only file, disk full) become :class:`GalleryError`.

        It starts by locking the gallery's one ``gallery_info`` row, so that writers take turns on PostgreSQL
        as they do on SQLite (``BEGIN IMMEDIATE``): a setting or a statistics row that two processes would both
        find missing and both insert is written by one, then found by the other."""
        if self.read_only:
            raise GalleryError(f"cannot write to gallery database {_safe(self.url)}: it is read-only"
                               f"{_storage_hint(self.url)}")
        with database_errors(self.url, "cannot write to gallery database"), self._sessions.begin() as session:
            session.execute(select(GalleryInfo.id).where(GalleryInfo.id == 1).with_for_update())
            yield session

    def revision(self, session: Session | None = None) -> int:
        if session is not None:
            return int(session.scalar(select(GalleryInfo.revision).where(GalleryInfo.id == 1)) or 0)
        with self._sessions() as fresh:
            return self.revision(fresh)

    def _bump(self, session: Session) -> tuple[int, int]:
        """Take the next revision. The row lock (PostgreSQL; SQLite's BEGIN IMMEDIATE does the same) makes
        writers queue, so revisions are committed in order and none is handed out twice."""
        row = session.execute(select(GalleryInfo.revision, GalleryInfo.model, GalleryInfo.dim)
                              .where(GalleryInfo.id == 1).with_for_update()).first()
        if row is not None and (row[1] != self.model or row[2] != self.dim):
            raise ModelMismatchError(f"gallery {_safe(self.url)} was bound to {row[1]} ({row[2]}-d) by another "
                                     f"process meanwhile; it cannot take {self.model} embeddings")
        before = int(row[0] or 0) if row is not None else 0
        session.execute(update(GalleryInfo).where(GalleryInfo.id == 1).values(revision=before + 1))
        return before, before + 1

    def enroll(self, name: str, faces: Sequence[NewFace], *, info: dict[str, Any] | None = None) -> EnrollResult:
        """Add ``faces`` to identity ``name`` (created if new) in one transaction.

        Images already enrolled for ``name`` (same sha256) are skipped, not duplicated.
        """
        name = check_name(name)
        vectors = [self._check_vector(face.embedding) for face in faces]
        with self._writing() as session:
            identity = session.scalar(select(Identity).where(Identity.name == name))
            if identity is None:
                identity = Identity(name=name, info=info)
                session.add(identity)
                session.flush()
            known = set(session.scalars(select(FaceRecord.image_sha256).where(FaceRecord.identity_id == identity.id)))
            records = []
            for face, vector in zip(faces, vectors):
                if face.image_sha256 in known:
                    continue
                known.add(face.image_sha256)
                records.append(FaceRecord(
                    identity_id=identity.id, embedding=vector.tobytes(), model=self.model, dim=self.dim,
                    image_sha256=face.image_sha256, source=face.source,
                    box=[float(v) for v in face.box] if face.box is not None else None, score=face.score,
                    detector=face.detector,
                ))
            session.add_all(records)
            session.flush()
            before, after = self._bump(session) if records else (self.revision(session),) * 2
            session.add_all(FaceChange(revision=after, face_id=r.id, removed=False) for r in records)
            added = np.stack([np.frombuffer(r.embedding, np.float32) for r in records]) if records else \
                np.zeros((0, self.dim), np.float32)
            return EnrollResult(name, [r.id for r in records], added, len(faces) - len(records), before, after)

    def enroll_many(self, faces: Sequence[tuple[str, NewFace]]) -> EnrollResult:
        """Add ``(name, face)`` pairs of many identities in one transaction (bulk enrollment).

        As in :meth:`enroll`, an image already enrolled for that identity (same sha256) is skipped, so a
        rerun of an interrupted job adds exactly what is missing. ``name`` of the result is empty.
        """
        checked = [(check_name(name), face, self._check_vector(face.embedding)) for name, face in faces]
        with self._writing() as session:
            before = int(session.scalar(
                select(GalleryInfo.revision).where(GalleryInfo.id == 1).with_for_update()) or 0)
            names = sorted({name for name, _, _ in checked})
            identities = {i.name: i for i in session.scalars(select(Identity).where(Identity.name.in_(names)))}
            for name in names:
                if name not in identities:
                    identities[name] = Identity(name=name)
                    session.add(identities[name])
            session.flush()
            known = set(session.execute(select(FaceRecord.identity_id, FaceRecord.image_sha256).where(
                FaceRecord.identity_id.in_([i.id for i in identities.values()]))).tuples())
            records = []
            for name, face, vector in checked:
                key = (identities[name].id, face.image_sha256)
                if key in known:
                    continue
                known.add(key)
                records.append(FaceRecord(
                    identity_id=key[0], embedding=vector.tobytes(), model=self.model, dim=self.dim,
                    image_sha256=face.image_sha256, source=face.source,
                    box=[float(v) for v in face.box] if face.box is not None else None, score=face.score,
                    detector=face.detector,
                ))
            session.add_all(records)
            session.flush()
            before, after = self._bump(session) if records else (before, before)
            session.add_all(FaceChange(revision=after, face_id=r.id, removed=False) for r in records)
            added = np.stack([np.frombuffer(r.embedding, np.float32) for r in records]) if records else \
                np.zeros((0, self.dim), np.float32)
            by_id = {identity.id: name for name, identity in identities.items()}
            return EnrollResult("", [r.id for r in records], added, len(faces) - len(records), before, after,
                                [by_id[r.identity_id] for r in records])

    def remove(self, name: str) -> tuple[list[int], int, int]:
        """Delete identity ``name`` and its faces; returns the removed face ids and the revisions."""
        with self._writing() as session:
            identity = self._identity(session, name)
            ids = list(session.scalars(select(FaceRecord.id).where(FaceRecord.identity_id == identity.id)))
            session.execute(delete(FaceRecord).where(FaceRecord.identity_id == identity.id))
            session.delete(identity)
            before, after = self._bump(session)
            session.add_all(FaceChange(revision=after, face_id=face_id, removed=True) for face_id in ids)
            return ids, before, after

    def rename(self, old: str, new: str) -> tuple[int, int]:
        """Rename an identity; returns the revisions before and after."""
        new = check_name(new)
        with self._writing() as session:
            identity = self._identity(session, old)
            if session.scalar(select(Identity.id).where(Identity.name == new)) is not None:
                raise DuplicateIdentityError(f"an identity named {new!r} already exists")
            identity.name = new
            before, after = self._bump(session)
            self._carry_settings(session, before, after)
            return before, after

    @staticmethod
    def _carry_settings(session: Session, before: int, after: int) -> None:
        """A change that touches no face (a rename): the settings derived from the faces at ``before`` are
        still current at ``after``, and are recorded so (a damaged row is left stale, to be derived again)."""
        for name in list(session.scalars(select(GallerySetting.name).where(GallerySetting.revision == before))):
            try:
                row = session.get(GallerySetting, name)
            except ValueError:  # not JSON: left as it is
                continue
            if row is None:
                continue
            if isinstance(row.value, dict) and row.value.get("revision") == before:
                row.value = {**row.value, "revision": after}
            row.revision = after

    def identities(self) -> list[IdentitySummary]:
        """Every identity with its face count, by name."""
        with self._sessions() as session:
            rows = session.execute(
                select(Identity.name, func.count(FaceRecord.id), Identity.created_at, Identity.info)
                .outerjoin(FaceRecord).group_by(Identity.id).order_by(Identity.name)
            )
            return [IdentitySummary(name, count, created, info) for name, count, created, info in rows]

    def names_for(self, face_ids: Sequence[int]) -> dict[int, str]:
        """Identity name of each face id that exists."""
        ids = sorted({int(i) for i in face_ids if i >= 0})
        if not ids:
            return {}
        with self._sessions() as session:
            rows = session.execute(
                select(FaceRecord.id, Identity.name).join(Identity).where(FaceRecord.id.in_(ids)))
            return {face_id: name for face_id, name in rows}

    def snapshot(self, batch: int = 50_000) -> tuple[int, np.ndarray, np.ndarray]:
        """Revision, face ids and embeddings, read in one transaction (for rebuilding an index)."""
        with self._sessions.begin() as session:
            revision = self.revision(session)
            ids: list[int] = []
            vectors: list[np.ndarray] = []
            for chunk in _chunks(session.execute(
                    select(FaceRecord.id, FaceRecord.embedding).order_by(FaceRecord.id)), batch):
                for face_id, blob in chunk:
                    if (vector := self._vector(face_id, blob)) is not None:
                        ids.append(face_id)
                        vectors.append(vector)
        return (revision, np.array(ids, np.int64),
                np.stack(vectors) if vectors else np.zeros((0, self.dim), np.float32))

    def face_ids(self) -> np.ndarray:
        """Every face id, sorted."""
        with self._sessions() as session:
            return np.array(list(session.scalars(select(FaceRecord.id).order_by(FaceRecord.id))), np.int64)

    def faces(self, face_ids: Sequence[int]) -> tuple[np.ndarray, list[str], np.ndarray]:
        """The ids (sorted), identity names and embeddings of the faces of ``face_ids`` that exist."""
        ids = sorted({int(i) for i in face_ids if i >= 0})
        found: list[int] = []
        names: list[str] = []
        vectors: list[np.ndarray] = []
        with self._sessions() as session:
            for start in range(0, len(ids), 10_000):  # bound the IN list
                for face_id, name, blob in session.execute(
                        select(FaceRecord.id, Identity.name, FaceRecord.embedding).join(Identity)
                        .where(FaceRecord.id.in_(ids[start : start + 10_000])).order_by(FaceRecord.id)):
                    if (vector := self._vector(face_id, blob)) is not None:
                        found.append(face_id)
                        names.append(name)
                        vectors.append(vector)
        return (np.array(found, np.int64), names,
                np.stack(vectors) if vectors else np.zeros((0, self.dim), np.float32))

    def setting(self, name: str) -> tuple[dict[str, Any], int] | None:
        """A derived setting's value and the revision it was derived at, or None; a value that is not a JSON
        object (a damaged row) raises :class:`DamagedRowError`."""
        damaged = DamagedRowError(f"the gallery setting {name!r} is damaged (its value is not a JSON object)")
        with self._sessions() as session:
            try:
                row = session.get(GallerySetting, name)
            except ValueError:  # not JSON (json.JSONDecodeError)
                raise damaged from None
            if row is None:
                return None
            if not isinstance(row.value, dict):
                raise damaged
            return dict(row.value), row.revision

    def put_setting(self, name: str, value: dict[str, Any], revision: int) -> None:
        """Store a derived setting, unless the gallery has changed since ``revision`` (then it is stale)."""
        with self._writing() as session:
            if self.revision(session) == revision:  # replaced without reading the old value, which may be damaged
                session.execute(delete(GallerySetting).where(GallerySetting.name == name))
                session.add(GallerySetting(name=name, value=value, revision=revision))

    def iter_faces(self, batch: int = 50_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Face ids and embeddings in batches of ``batch`` rows, streamed (a server-side cursor where the
        driver has one), so that rebuilding an index of any size runs in bounded memory."""
        with self._sessions() as session:
            rows = session.execute(select(FaceRecord.id, FaceRecord.embedding).order_by(FaceRecord.id)
                                   .execution_options(yield_per=batch))
            for chunk in rows.partitions(batch):
                good = [(face_id, vector) for face_id, blob in chunk
                        if (vector := self._vector(face_id, blob)) is not None]
                if good:
                    yield np.array([i for i, _ in good], np.int64), np.stack([v for _, v in good])

    def changes_since(self, since: int, *, limit: int = 200_000) -> Changes | None:
        """The changes after revision ``since``, or None when the log cannot say (``since`` is older than
        the log or newer than the store) or more than ``limit`` faces changed (a rebuild is then cheaper)."""
        with self._sessions() as session:
            info = session.get(GalleryInfo, 1)
            if info is None or info.log_from is None or not info.log_from <= since <= info.revision:
                return None
            revision = info.revision
            touched = sorted(set(session.scalars(select(FaceChange.face_id).where(
                FaceChange.revision > since, FaceChange.revision <= revision))))
            if len(touched) > limit:
                return None
            ids: list[int] = []
            vectors: list[np.ndarray] = []
            for start in range(0, len(touched), 10_000):
                for face_id, blob in session.execute(select(FaceRecord.id, FaceRecord.embedding).where(
                        FaceRecord.id.in_(touched[start : start + 10_000]))):
                    if (vector := self._vector(face_id, blob)) is not None:
                        ids.append(face_id)
                        vectors.append(vector)
        return Changes(since, revision, np.array(touched, np.int64), np.array(ids, np.int64),
                       np.stack(vectors) if vectors else np.zeros((0, self.dim), np.float32))

    def enrolled_images(self) -> dict[str, set[str]]:
        """The image sha256 of every enrolled face, per identity name (what a resumed bulk enrollment skips)."""
        enrolled: dict[str, set[str]] = {}
        with self._sessions() as session:
            rows = session.execute(select(Identity.name, FaceRecord.image_sha256).join(FaceRecord)
                                   .execution_options(yield_per=50_000))
            for name, digest in rows:
                enrolled.setdefault(name, set()).add(digest)
        return enrolled

    def count_faces(self) -> int:
        with self._sessions() as session:
            return int(session.scalar(select(func.count(FaceRecord.id))) or 0)

    def count_identities(self) -> int:
        with self._sessions() as session:
            return int(session.scalar(select(func.count(Identity.id))) or 0)

    def _identity(self, session: Session, name: str) -> Identity:
        name = lookup_name(name)  # normalised as enrolled names are
        identity = session.scalar(select(Identity).where(Identity.name == name))
        if identity is None:
            raise UnknownIdentityError(f"no identity named {_shown(name)} is enrolled")  # cut, escaped
        return identity

    def _check_vector(self, vector: np.ndarray) -> np.ndarray:
        vector = np.ascontiguousarray(vector, dtype="<f4").reshape(-1)
        if vector.shape[0] != self.dim:
            raise ModelMismatchError(f"embedding has {vector.shape[0]} dimensions, the gallery holds {self.dim}")
        if not np.isfinite(vector).all():
            raise GalleryError("embedding contains NaN or infinite values")
        return vector

    def _vector(self, face_id: int, blob: Any) -> np.ndarray | None:
        """A stored embedding as read, or None for a damaged row (not ``dim`` float32 values), which is skipped
        with a :class:`GalleryWarning` naming its face: the rest of the gallery stays usable, the row is kept."""
        size = len(blob) if isinstance(blob, (bytes, bytearray, memoryview)) else None
        if size != 4 * self.dim:
            warnings.warn(GalleryWarning(
                f"face {face_id}: its stored embedding is damaged ({'not bytes' if size is None else f'{size} bytes'}"
                f", not {self.dim} float32 values): skipped"), stacklevel=3)
            return None
        return np.frombuffer(blob, "<f4")

    def close(self) -> None:
        self.engine.dispose()

    # -- score-normalisation statistics (facerec.cohort) ------------------------------

    def cohort_stats(self, face_ids: Sequence[int], cohort: str) -> dict[int, tuple[float, float]]:
        """``face id -> (mean, sd)`` against ``cohort``, for the faces of ``face_ids`` that have them."""
        from enrollment.schema import FaceCohortStats

        ids = sorted({int(i) for i in face_ids if i >= 0})
        found: dict[int, tuple[float, float]] = {}
        with self._sessions() as session:
            for start in range(0, len(ids), 10_000):
                rows = session.execute(select(FaceCohortStats.face_id, FaceCohortStats.mean, FaceCohortStats.sd)
                                       .where(FaceCohortStats.cohort == cohort,
                                              FaceCohortStats.face_id.in_(ids[start : start + 10_000])))
                found.update({face_id: (mean, sd) for face_id, mean, sd in rows})
        return found

    def faces_without_cohort_stats(self, cohort: str, limit: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``limit`` face ids (and embeddings) that have no statistics against ``cohort`` yet."""
        from enrollment.schema import FaceCohortStats

        with self._sessions() as session:
            done = select(FaceCohortStats.face_id).where(FaceCohortStats.cohort == cohort)
            rows = session.execute(select(FaceRecord.id, FaceRecord.embedding).where(FaceRecord.id.not_in(done))
                                   .order_by(FaceRecord.id).limit(limit)).all()
        good = [(face_id, vector) for face_id, blob in rows if (vector := self._vector(face_id, blob)) is not None]
        return (np.array([i for i, _ in good], np.int64),
                np.stack([v for _, v in good]) if good else np.zeros((0, self.dim), np.float32))

    def put_cohort_stats(self, cohort: str, face_ids: Sequence[int], means: Sequence[float],
                         sds: Sequence[float]) -> None:
        """Store statistics against ``cohort`` (replacing any), for the faces that still exist; the
        statistics of every other cohort are dropped (a gallery is scored against one cohort at a time)."""
        from enrollment.schema import FaceCohortStats

        rows = {int(i): (float(m), float(s)) for i, m, s in zip(face_ids, means, sds)}
        if not rows:
            return
        with self._writing() as session:
            session.execute(delete(FaceCohortStats).where(FaceCohortStats.cohort != cohort))
            existing = set(session.scalars(select(FaceRecord.id).where(FaceRecord.id.in_(sorted(rows)))))
            session.execute(delete(FaceCohortStats).where(FaceCohortStats.cohort == cohort,
                                                          FaceCohortStats.face_id.in_(sorted(existing))))
            session.add_all(FaceCohortStats(face_id=i, cohort=cohort, mean=m, sd=s)
                            for i, (m, s) in rows.items() if i in existing)

    # -- the gallery's own settings (chosen by its owner, not derived) ------------------

    def index_kind(self) -> str | None:
        """The kind of vector index the gallery keeps (``flat``, ``pq``...), or None when none was recorded
        (a new gallery, or one from before the kind was stored with the gallery)."""
        try:
            saved = self.setting(INDEX_KIND_SETTING)
        except DamagedRowError as exc:  # the kind the vector store has is used, as for a gallery without one
            warnings.warn(GalleryWarning(f"{exc}: ignored"), stacklevel=2)
            saved = None
        kind = saved[0].get("kind") if saved is not None else None
        return str(kind) if kind else None

    def put_index_kind(self, kind: str) -> None:
        """Record the kind of vector index the gallery keeps: every later open uses it."""
        self.put_own_setting(INDEX_KIND_SETTING, {"kind": kind})

    def put_own_setting(self, name: str, value: dict[str, Any]) -> None:
        """Record a setting the gallery keeps whatever changes (unlike :meth:`put_setting`'s derived ones)."""
        with self._writing() as session:
            try:
                row = session.get(GallerySetting, name)
            except ValueError:  # a damaged value (not JSON): replaced
                session.execute(delete(GallerySetting).where(GallerySetting.name == name))
                row = None
            if row is None or row.value != value:
                session.merge(GallerySetting(name=name, value=value, revision=self.revision(session)))


#: The gallery setting that records its vector index kind (see :meth:`GalleryStore.index_kind`).
INDEX_KIND_SETTING = "index"


def _insert_new(session: Session, table: Any, values: dict[str, Any]) -> None:
    """Insert a row unless one with its primary key exists (made meanwhile by another process): PostgreSQL's
    and SQLite's ``ON CONFLICT DO NOTHING``, elsewhere a savepoint that an :class:`IntegrityError` rolls back."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":  # each dialect imported only where used: PostgreSQL's is slow to import
        from sqlalchemy.dialects import postgresql

        session.execute(postgresql.insert(table).values(**values).on_conflict_do_nothing())
        return
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        session.execute(sqlite.insert(table).values(**values).on_conflict_do_nothing())
        return
    from sqlalchemy import insert as plain_insert

    try:
        with session.begin_nested():
            session.execute(plain_insert(table).values(**values))
    except IntegrityError:
        pass


def _chunks(rows: Any, size: int) -> Iterator[list[Any]]:
    while chunk := rows.fetchmany(size):
        yield chunk


def _mismatch_hint(gallery: str, wanted: str) -> str:
    """What to do when a gallery of model key ``gallery`` is opened with model key ``wanted``."""
    gallery_base, _, gallery_file = gallery.partition("+file-")
    wanted_base, _, wanted_file = wanted.partition("+file-")
    if gallery_base == wanted_base and gallery_file and not wanted_file:
        return f"it was made with a weights file of your own (sha256 {gallery_file}...): pass that file with --weights"
    if gallery_base == wanted_base and wanted_file and not gallery_file:
        return f"it was made with the published {gallery_base} weights: drop --weights"
    if gallery_base == wanted_base:
        return f"it was made with another weights file (sha256 {gallery_file}...): pass that one with --weights"
    model, _, tag = gallery_base.partition(":")
    return f"use --model {model} --tag {tag}, or another --db"


def _safe(url: str) -> str:
    """The URL without its password, for messages (a SQLite URL, which has none, as it is)."""
    from sqlalchemy.engine import make_url

    if url.startswith("sqlite"):
        return url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is still worth naming
        return "<database>"
