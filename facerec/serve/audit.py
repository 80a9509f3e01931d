"""The audit log, written in the background: a request never waits for it.

Lines are buffered and written once a second (and when the service stops), so that an identify
under load costs no database write of its own. Images and embeddings are never logged.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone

from enrollment import AccessStore, AuditRecord

__all__ = ["AuditLog"]

log = logging.getLogger("facerec.serve")


class AuditLog:
    """Who (key id) did what to whom, when, and how it ended."""

    def __init__(self, access: AccessStore, interval_s: float = 1.0) -> None:
        self.access, self.interval_s = access, interval_s
        self._pending: list[AuditRecord] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="facerec-audit", daemon=True)
        self._thread.start()

    def record(self, key_id: str, action: str, person: str | None, outcome: str) -> None:
        with self._lock:
            self._pending.append(AuditRecord(key_id, action, person, outcome, datetime.now(timezone.utc)))

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        try:
            self.access.record(pending)
        except Exception:  # noqa: BLE001 - keep the lines for the next try, and say so
            log.exception("could not write %d audit lines; will retry", len(pending))
            with self._lock:
                self._pending[:0] = pending

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
