"""The audit log, written in the background: a request never waits for it.

Lines are buffered and written once a second (and when the service stops), so that an identify
under load costs no database write of its own. Images and embeddings are never logged.

One line the database refuses never blocks the others: when a batch fails, its lines are written one
by one, and a line that still fails is stored without its person and outcome (and the server log says
so, with no personal data). Only when even that fails (the database is down) are the lines kept for
the next try, up to :data:`MAX_PENDING`; beyond, new lines are counted, and the count is written later.

Requests refused for want of a valid key cost an attacker nothing, so they are not written one by one
(see :class:`RefusalTally`): each minute, a few in full, with their text cut short and escaped, then a count
per client address. A flood adds a few lines a minute, not one a request.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from enrollment import AccessStore, AuditRecord
from enrollment.access import fit_text
from facerec.fileio import shown_path

__all__ = ["AuditLog", "MAX_PENDING", "RefusalTally"]

log = logging.getLogger("facerec.serve")

#: Lines kept in memory while the database does not take them.
MAX_PENDING = 100_000
#: Refused text (a name in the path) is kept to this many characters.
REFUSED_TEXT = 80


@dataclass
class RefusalTally:
    """Unauthenticated refusals, bounded per minute: the first ``per_client`` of each client address, and at
    most ``total`` in all, are written in full; the others are counted per address (for at most ``clients``
    addresses, the rest together) and summed up in one line each when the minute is over. So a minute adds at
    most ``total + clients + 1`` lines, however many requests come."""

    per_client: int = 3
    total: int = 30
    clients: int = 50
    minute: datetime | None = field(default=None, init=False)  # the minute being counted
    _written: dict[str, int] = field(default_factory=dict, init=False)
    _counted: dict[str, int] = field(default_factory=dict, init=False)
    _others: int = field(default=0, init=False)

    def add(self, at: datetime, client: str, key_id: str, person: str | None, outcome: str) -> AuditRecord | None:
        """The line to write for this refusal, or None when it is only counted."""
        self.minute = self.minute or _minute(at)
        client = fit_text(shown_path(client), 60)
        if self._written.get(client, 0) < self.per_client and sum(self._written.values()) < self.total:
            self._written[client] = self._written.get(client, 0) + 1
            return AuditRecord(key_id, "denied", None if person is None else fit_text(shown_path(person), REFUSED_TEXT),
                               f"{outcome} (from {client})", at)
        if client in self._counted or len(self._counted) < self.clients:
            self._counted[client] = self._counted.get(client, 0) + 1
        else:
            self._others += 1
        return None

    def due(self, now: datetime, *, closing: bool = False) -> list[AuditRecord]:
        """The summary lines of the minute counted, once ``now`` is past it (or at once when ``closing``); then
        a new minute starts."""
        if self.minute is None or (_minute(now) <= self.minute and not closing):
            return []
        when = f"refused in the minute from {self.minute:%Y-%m-%d %H:%M} UTC, not recorded one by one"
        lines = [AuditRecord("-", "denied", None, f"401 without a valid key: {n} more requests from {client} {when}",
                             now) for client, n in self._counted.items()]
        if self._others:
            lines.append(AuditRecord("-", "denied", None, f"401 without a valid key: {self._others} requests from "
                                     f"other addresses {when}", now))
        self.minute, self._written, self._counted, self._others = None, {}, {}, 0
        return lines


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


class AuditLog:
    """Who (key id) did what to whom, when, and how it ended."""

    def __init__(self, access: AccessStore, interval_s: float = 1.0) -> None:
        self.access, self.interval_s = access, interval_s
        self.refusals = RefusalTally()
        self._pending: list[AuditRecord] = []
        self._dropped = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="facerec-audit", daemon=True)
        self._thread.start()

    def record(self, key_id: str, action: str, person: str | None, outcome: str) -> None:
        line = AuditRecord(key_id, action, person, outcome, datetime.now(timezone.utc))
        with self._lock:
            self._append([line])

    def _append(self, lines: list[AuditRecord]) -> None:
        """Queue ``lines`` (the lock held), fitted to their columns; count those over :data:`MAX_PENDING`."""
        for line in lines:
            if len(self._pending) >= MAX_PENDING:
                self._dropped += 1
            else:
                self._pending.append(line.fitted())

    def refused(self, client: str, key_id: str, person: str | None, outcome: str) -> None:
        """A request refused for want of a valid key, from the ``client`` address: written in full or counted
        (see :class:`RefusalTally`)."""
        now = datetime.now(timezone.utc)
        with self._lock:
            summaries = self.refusals.due(now)  # of a minute that is over
            line = self.refusals.add(now, client, key_id, person, outcome)
            self._append(summaries + ([] if line is None else [line]))

    def flush(self, *, closing: bool = False) -> None:
        """Write the pending lines (and the refusals counted in a minute that is over, or in any minute when
        ``closing``); keep those the database could not take (it is down) for the next try."""
        with self._lock:
            self._append(self.refusals.due(datetime.now(timezone.utc), closing=closing))
            pending, self._pending = self._pending, []
            if self._dropped:
                pending.append(AuditRecord("-", "audit", None, f"{self._dropped} lines not recorded: the database "
                                           "did not take them", datetime.now(timezone.utc)))
                self._dropped = 0
        if not pending:
            return
        try:
            self.access.record(pending)
            return
        except Exception as exc:  # noqa: BLE001 - one line may be at fault: try them one by one
            reason = type(exc).__name__  # never the message: it quotes the lines' names
        for done, line in enumerate(pending):
            if not self._write_one(line, reason):
                log.warning("could not write %d audit lines (%s); will retry", len(pending) - done, reason)
                with self._lock:
                    self._pending[:0] = pending[done:]
                return

    def _write_one(self, line: AuditRecord, batch_error: str) -> bool:
        """Write ``line``, or a stand-in without its person and outcome; False when neither is taken."""
        try:
            self.access.record([line])
            return True
        except Exception as exc:  # noqa: BLE001
            reason = type(exc).__name__
        at = line.at if isinstance(line.at, datetime) else datetime.now(timezone.utc)
        stand_in = AuditRecord(str(line.key_id), str(line.action), None, f"line not recorded in full ({reason})", at)
        try:
            self.access.record([stand_in])
        except Exception:  # noqa: BLE001 - the database is down, not this line at fault
            return False
        log.warning("an audit line (%s) could not be written (%s, batch: %s); stored without person and outcome",
                    stand_in.fitted().action, reason, batch_error)
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush(closing=True)
