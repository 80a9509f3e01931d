"""SQLAlchemy 2.0 tables of the gallery: its settings, identities and face records."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "UTCDateTime", "GalleryInfo", "GallerySetting", "Identity", "FaceRecord", "FaceChange",
           "FaceCohortStats", "add_missing_columns", "create_tables"]

# Columns added after galleries were first created: (table, column, SQL type), added on open.
LATER_COLUMNS = (("faces", "detector", "VARCHAR(200)"), ("gallery_info", "log_from", "INTEGER"))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back aware, in UTC: SQLite keeps no offset, so the one it loses is put
    back, and every timestamp facerec shows (CLI, JSON, HTTP) reads as ISO 8601 with its offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


class GalleryInfo(Base):
    """One row: the embedding model the gallery is bound to and its revision counter.

    ``revision`` goes up in the same transaction as every change, so an index whose
    sidecar records another revision is known to be stale. ``log_from`` is the revision
    from which :class:`FaceChange` rows are complete: a vector store at that revision or
    later can catch up from the log instead of being rebuilt.
    """

    __tablename__ = "gallery_info"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    log_from: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GallerySetting(Base):
    """A named setting the gallery derives from its own contents (such as its open-set threshold),
    with the revision it was derived at, so a stale value is known to be stale."""

    __tablename__ = "gallery_settings"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Identity(Base):
    __tablename__ = "identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    info: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    faces: Mapped[list[FaceRecord]] = relationship(back_populates="identity", cascade="all, delete-orphan")


class FaceRecord(Base):
    __tablename__ = "faces"
    __table_args__ = (UniqueConstraint("identity_id", "image_sha256", name="uq_face_identity_image"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian
    model: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    image_sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(1024), default=None)
    box: Mapped[list[float] | None] = mapped_column(JSON, default=None)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    detector: Mapped[str | None] = mapped_column(String(200), default=None)  # which detector (stage) found it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    identity: Mapped[Identity] = relationship(back_populates="faces")


class FaceChange(Base):
    """The change log: face ``face_id`` was added (or ``removed``) by the change that made ``revision``.

    Written in the same transaction as the change itself, so the log is exactly as durable as
    the faces. A vector store that applied everything up to revision ``r`` catches up by
    replaying the rows with ``revision > r``.
    """

    __tablename__ = "face_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, index=True)
    face_id: Mapped[int] = mapped_column(Integer)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)


class FaceCohortStats(Base):
    """A face's score-normalisation statistics against the cohort named ``cohort`` (facerec.cohort): the mean
    and spread of its best cohort scores, computed at enrolment. A face without a row for the cohort in use
    (a gallery made before score normalisation, or faces written by a bulk job) gets one before it is
    scored; a row goes with its face (``ON DELETE CASCADE``)."""

    __tablename__ = "face_cohort_stats"

    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True)
    cohort: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    mean: Mapped[float] = mapped_column(Float)
    sd: Mapped[float] = mapped_column(Float)


def create_tables(engine: Engine, tables: Sequence[Table] | None = None) -> None:
    """Create the gallery's tables (or only ``tables``: the key store's), and add the columns of later versions,
    once even when several processes open a new PostgreSQL database at the same moment: they queue on one
    advisory lock, whoever creates which tables (SQLite's writers queue anyway)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(7217001)"))
        Base.metadata.create_all(connection, tables=tables)
        add_missing_columns(connection)


def add_missing_columns(connection: Connection) -> None:
    """Bring a gallery created by an earlier facerec up to date (new nullable columns only)."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    present = {table: {c["name"] for c in inspector.get_columns(table)} for table, _, _ in LATER_COLUMNS
               if table in tables}
    for table, column, kind in LATER_COLUMNS:
        if table in present and column not in present[table]:
            connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))
