"""The service's limits: a bounded work queue per process, a rate per key, a size per request.

Detection and embedding run in a small thread pool (onnxruntime releases the GIL); a request
that finds the queue full is refused at once with 503 and ``Retry-After`` rather than piling
up; one that waits longer than the timeout without starting is dropped, having done nothing.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from starlette.exceptions import HTTPException

__all__ = ["Overloaded", "RateLimiter", "WorkQueue", "BodyTooLarge", "BodyLimit"]

T = TypeVar("T")


class Overloaded(Exception):
    """The work queue is full, or a request waited too long for its turn (HTTP 503)."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class WorkQueue:
    """At most ``concurrency`` jobs running and ``capacity`` admitted (running or waiting)."""

    def __init__(self, concurrency: int, capacity: int, timeout_s: float) -> None:
        if concurrency < 1 or capacity < concurrency:
            raise ValueError("need concurrency >= 1 and capacity >= concurrency")
        self.concurrency, self.capacity, self.timeout_s = concurrency, capacity, timeout_s
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="facerec-serve")
        self._lock = threading.Lock()
        self._admitted = 0
        self._seconds = 0.5  # running mean job time, for Retry-After

    @property
    def admitted(self) -> int:
        return self._admitted

    def retry_after(self) -> int:
        return max(1, math.ceil(self._seconds * self.capacity / self.concurrency))

    async def run(self, job: Callable[..., T], *args: Any, write: bool = False) -> T:
        """Run ``job(*args)`` in the pool. A ``write`` that has started is always waited for (its
        answer must not be lost); a read that overruns the timeout is answered 503."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise Overloaded(f"the server is busy ({self.capacity} requests queued)", self.retry_after())
            self._admitted += 1
        future: Future[T] = self._pool.submit(self._timed, job, *args)
        future.add_done_callback(self._release)
        waiting = asyncio.wrap_future(future)
        try:
            return await asyncio.wait_for(asyncio.shield(waiting), self.timeout_s)
        except asyncio.TimeoutError:
            if future.cancel():
                raise Overloaded(f"the request waited {self.timeout_s:g} s without starting; nothing was done",
                                 self.retry_after()) from None
            if not write:
                raise Overloaded(f"the request took over {self.timeout_s:g} s", self.retry_after()) from None
            return await waiting

    def _timed(self, job: Callable[..., T], *args: Any) -> T:
        start = time.perf_counter()
        try:
            return job(*args)
        finally:
            self._seconds = 0.9 * self._seconds + 0.1 * (time.perf_counter() - start)

    def _release(self, _future: Future[Any]) -> None:
        with self._lock:
            self._admitted -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RateLimiter:
    """A token bucket per key: ``rate`` requests a second on average, ``burst`` at once (rate 0: no limit)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait_time(self, key: str) -> float:
        """0 when ``key`` may go now (a token is taken), else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


class BodyTooLarge(HTTPException):
    """A request body over the limit (HTTP 413); raised while the body streams in."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request is larger than the limit of {limit:,} bytes")


class BodyLimit:
    """Counts the bytes of a request body as they arrive; past ``limit`` raises :class:`BodyTooLarge`."""

    def __init__(self, receive: Callable[[], Any], limit: int) -> None:
        self._receive, self.limit, self.seen = receive, limit, 0

    async def __call__(self) -> dict[str, Any]:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise BodyTooLarge(self.limit)
        return message
