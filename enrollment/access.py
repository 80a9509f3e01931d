"""API keys with roles, and the audit log, kept in the gallery's database.

A key reads ``frk_<key id>_<secret>``. Only the key id and the sha256 of the secret are
stored: the secret is 32 random bytes, so a plain hash is enough (no dictionary to attack, and
no slow hash on every request) and a stolen database yields no usable key. The audit log
records who did what to whom (key id, time, action, person, outcome), never images or embeddings.
Each line is fitted to its columns before it is written (see :meth:`AuditRecord.fitted`), so that no
caller's text (an over-long name in a URL, a NUL character) can make the database refuse it.

>>> store = AccessStore("sqlite://")
>>> key, secret = store.create_key("enroll", label="door")
>>> store.authenticate(secret).role
'enroll'
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Sequence

from sqlalchemy import Integer, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from enrollment.errors import GalleryError, NoGalleryError
from enrollment.schema import Base, UTCDateTime, create_tables, utcnow
from enrollment.store import database_errors, look, make_engine, sqlite_path

__all__ = ["ROLES", "ApiKeyInfo", "AuditRecord", "AccessStore", "role_allows", "fit_text", "CUT_MARK", "AUDIT_SIZES"]

#: Each role may do what the ones before it may: read (verify, identify, list), enroll (plus
#: enroll, rename, remove), admin (plus keys and the audit log).
ROLES = ("read", "enroll", "admin")
_KEY = re.compile(r"frk_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})")


def role_allows(role: str, needed: str) -> bool:
    """Whether a key of ``role`` may do what needs ``needed``.

    >>> role_allows("admin", "enroll"), role_allows("read", "enroll")
    (True, False)
    """
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(12), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    key_id: Mapped[str] = mapped_column(String(12), index=True)
    action: Mapped[str] = mapped_column(String(32))
    person: Mapped[str | None] = mapped_column(String(1024), default=None)
    outcome: Mapped[str] = mapped_column(String(200))


@dataclass(frozen=True)
class ApiKeyInfo:
    """A key as listed: never its secret."""

    key_id: str
    role: str
    label: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


#: The characters each text column of the audit log holds.
AUDIT_SIZES: dict[str, int] = {c.name: c.type.length for c in AuditEntry.__table__.c
                               if isinstance(c.type, String) and c.type.length}
#: Ends a text that was cut to fit its column.
CUT_MARK = "…"


def fit_text(text: str, size: int) -> str:
    """``text`` as any database stores it in a column of ``size`` characters: control characters and lone
    surrogates (PostgreSQL refuses NUL, drivers refuse surrogates) become U+FFFD, and a longer text is cut
    to ``size`` characters, the last one :data:`CUT_MARK`.

    >>> fit_text("Ada Lovelace", 8)
    'Ada Lov…'
    """
    clean = "".join("\ufffd" if unicodedata.category(c) in ("Cc", "Cs") else c for c in text[: size + 1])
    return clean if len(clean) <= size else clean[: size - len(CUT_MARK)] + CUT_MARK


@dataclass(frozen=True)
class AuditRecord:
    """One audit line: who (key id), when, what, to whom, and how it ended."""

    key_id: str
    action: str
    person: str | None
    outcome: str
    at: datetime

    def fitted(self) -> AuditRecord:
        """This line with each text fitted to its column (see :func:`fit_text`)."""
        return replace(self, key_id=fit_text(self.key_id, AUDIT_SIZES["key_id"]),
                       action=fit_text(self.action, AUDIT_SIZES["action"]),
                       person=None if self.person is None else fit_text(self.person, AUDIT_SIZES["person"]),
                       outcome=fit_text(self.outcome, AUDIT_SIZES["outcome"]))


class AccessStore:
    """The keys and the audit log of the gallery database at ``url``: their tables are created if missing, unless
    ``create`` is False (listing or revoking keys), where a missing SQLite file is :class:`NoGalleryError` and a
    database without them has no keys. Another program's SQLite file is refused before anything is written."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        path = sqlite_path(url)
        if not create and path is not None and not path.exists():
            raise NoGalleryError(f"no gallery database at {path} (check --db / FACEREC_DB)")
        ours = {ApiKey.__tablename__, AuditEntry.__tablename__}
        self._has_tables = ours <= look(url)
        with database_errors(url):
            self.engine = make_engine(url, writer=create or self._has_tables)
            if create and not self._has_tables:
                create_tables(self.engine, [Base.metadata.tables[name] for name in sorted(ours)])
                self._has_tables = True
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_key(self, role: str, *, label: str = "") -> tuple[ApiKeyInfo, str]:
        """A new key of ``role``: its description and the secret, shown once and never stored."""
        if role not in ROLES:
            raise GalleryError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        for _ in range(5):
            key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
            row = ApiKey(key_id=key_id, secret_sha256=_digest(secret), role=role, label=label[:200])
            try:
                with self._sessions.begin() as session:
                    session.add(row)
            except IntegrityError:  # the same random key id twice: draw again
                continue
            return _info(row), f"frk_{key_id}_{secret}"
        raise GalleryError("could not draw an unused key id")  # pragma: no cover - 2^48 ids

    def keys(self) -> list[ApiKeyInfo]:
        if not self._has_tables:
            return []
        with self._sessions() as session:
            return [_info(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.id))]

    def revoke(self, key_id: str) -> ApiKeyInfo:
        """Revoke a key by its id (``frk_<key id>_...``); an unknown id is an error."""
        with self._sessions.begin() as session:
            row = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id)) if self._has_tables else None
            if row is None:
                raise GalleryError(f"no key with id {key_id!r}")
            if row.revoked_at is None:
                session.execute(update(ApiKey).where(ApiKey.id == row.id).values(revoked_at=utcnow()))
                session.refresh(row)
            return _info(row)

    def authenticate(self, key: str) -> ApiKeyInfo | None:
        """The active key that ``key`` is, or None (malformed, unknown, wrong secret or revoked)."""
        match = _KEY.fullmatch(key.strip())
        if match is None or not self._has_tables:
            return None
        with self._sessions() as session:
            row = session.scalar(select(ApiKey).where(ApiKey.key_id == match.group(1)))
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.secret_sha256, _digest(match.group(2))):
            return None
        return _info(row)

    def record(self, entries: Sequence[AuditRecord]) -> None:
        """Append audit lines (one transaction), each fitted to the columns first."""
        if not entries:
            return
        fitted = [e.fitted() for e in entries]
        with self._sessions.begin() as session:
            session.add_all([AuditEntry(key_id=e.key_id, action=e.action, person=e.person, outcome=e.outcome,
                                        at=e.at) for e in fitted])

    def audit(self, limit: int = 100) -> list[AuditRecord]:
        """The latest audit lines, newest first."""
        if not self._has_tables:
            return []
        with self._sessions() as session:
            rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
            return [AuditRecord(r.key_id, r.action, r.person, r.outcome, r.at) for r in rows]

    def close(self) -> None:
        self.engine.dispose()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(row.key_id, row.role, row.label, row.created_at, row.revoked_at)
