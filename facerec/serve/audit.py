"""The audit log, written in the background: a request never waits for it.

Lines are buffered and written once a second (and when the service stops), so that an identify
under load costs no database write of its own. Images and embeddings are never logged.

One line the database refuses never blocks the others: when a batch fails, its lines are written one
by one, and a line that still fails is stored without its person and outcome (and the server log says
so, with no personal data). Only when even that fails (the database is down) are the lines kept for
the next try, up to :data:`MAX_PENDING`; beyond, new lines are counted, and the count is written later.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone

from enrollment import AccessStore, AuditRecord

__all__ = ["AuditLog", "MAX_PENDING"]

log = logging.getLogger("facerec.serve")

#: Lines kept in memory while the database does not take them.
MAX_PENDING = 100_000


class AuditLog:
    """Who (key id) did what to whom, when, and how it ended."""

    def __init__(self, access: AccessStore, interval_s: float = 1.0) -> None:
        self.access, self.interval_s = access, interval_s
        self._pending: list[AuditRecord] = []
        self._dropped = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="facerec-audit", daemon=True)
        self._thread.start()

    def record(self, key_id: str, action: str, person: str | None, outcome: str) -> None:
        line = AuditRecord(key_id, action, person, outcome, datetime.now(timezone.utc)).fitted()
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                self._dropped += 1
            else:
                self._pending.append(line)

    def flush(self) -> None:
        """Write the pending lines; keep those the database could not take (it is down) for the next try."""
        with self._lock:
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
        self.flush()
