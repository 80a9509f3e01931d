"""The service's limits: a bounded work queue per process, a rate per key, a size per request, and
deadlines for a request to arrive.

Detection and embedding run in a small thread pool (onnxruntime releases the GIL); a request
that finds the queue full is refused at once with 503 and ``Retry-After`` rather than piling
up; one that waits longer than the timeout without starting is dropped, having done nothing; a
read that overruns it while running is answered 503 at once and told to stop (:func:`check_cancelled`
at its next step: the photo not yet decoded is never decoded), so that its memory goes.

:class:`ReadDeadlines` closes connections whose request headers or body trickle in (slowloris):
uvicorn itself only times out idle keep-alive connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import logging
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar, cast

from starlette.exceptions import HTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["Overloaded", "Cancelled", "check_cancelled", "RateLimiter", "WorkQueue", "PixelBudget",
           "return_freed_memory", "BodyTooLarge", "BodyLimit", "ReadDeadlines", "http_protocol"]

T = TypeVar("T")


class Overloaded(Exception):
    """The work queue is full, or a request waited too long for its turn (HTTP 503)."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Cancelled(Exception):
    """The request a job works for has been answered (it overran the timeout): the job stops."""


_job = threading.local()  # the cancel flag of the job a pool thread runs


def check_cancelled() -> None:
    """Raise :class:`Cancelled` when the job this thread runs has been given up; call between steps."""
    flag: threading.Event | None = getattr(_job, "cancel", None)
    if flag is not None and flag.is_set():
        raise Cancelled("the request timed out; its work stopped")


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
        answer must not be lost); a read that overruns the timeout is answered 503 and cancelled: its
        next :func:`check_cancelled` raises, and whatever it would have returned is dropped. It keeps
        its place in the pool and in the queue until it stops, so the work in memory stays bounded."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise Overloaded(f"the server is busy ({self.capacity} requests queued)", self.retry_after())
            self._admitted += 1
        cancel = threading.Event()
        future: Future[T] = self._pool.submit(self._timed, cancel, job, *args)
        future.add_done_callback(self._release)
        waiting = asyncio.wrap_future(future)
        try:
            return await asyncio.wait_for(asyncio.shield(waiting), self.timeout_s)
        except asyncio.TimeoutError:
            if future.cancel():
                raise Overloaded(f"the request waited {self.timeout_s:g} s without starting; nothing was done",
                                 self.retry_after()) from None
            if not write:
                cancel.set()
                raise Overloaded(f"the request took over {self.timeout_s:g} s", self.retry_after()) from None
            return await waiting

    def _timed(self, cancel: threading.Event, job: Callable[..., T], *args: Any) -> T:
        start = time.perf_counter()
        _job.cancel = cancel
        try:
            return job(*args)
        finally:
            _job.cancel = None
            self._seconds = 0.9 * self._seconds + 0.1 * (time.perf_counter() - start)

    def _release(self, _future: Future[Any]) -> None:
        with self._lock:
            self._admitted -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class PixelBudget:
    """At most ``total`` pixels of photos decoding at once in this process: a large PNG is decoded at full size
    (about 4-8 bytes a pixel) before it is brought down to its working size, so a few at once could take
    gigabytes. A photo over ``total`` waits to decode alone. A job told to stop stops waiting.

    >>> budget = PixelBudget(10)
    >>> with budget.hold(8):
    ...     budget.used
    8
    """

    def __init__(self, total: int) -> None:
        self.total = max(1, total)
        self.used = 0
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        need = min(max(0, pixels), self.total)
        with self._changed:
            while self.used and self.used + need > self.total:
                self._changed.wait(0.1)
                check_cancelled()
            self.used += need
        try:
            yield
        finally:
            with self._changed:
                self.used -= need
                self._changed.notify_all()


def return_freed_memory() -> None:
    """Make glibc hand freed blocks of 1 MiB and more straight back to the system (``M_MMAP_THRESHOLD``).

    By default glibc raises that threshold as large blocks are freed, and each pool thread keeps its own
    heap, so the decoded photos of a burst of uploads stayed held (1.7 GB) after they were answered. A no-op
    where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
    except OSError:
        return
    if mallopt is not None:
        mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD (malloc.h); fixes it, so glibc stops raising it


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


#: What a connection whose request did not arrive in time is told before it is closed.
REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                   b"content-length: 31\r\nconnection: close\r\n\r\nthe request arrived too slowly\n")

_log = logging.getLogger("uvicorn.error")

if TYPE_CHECKING:  # the mixin is typed against the h11 protocol (httptools' has the same members it uses)
    _Base = H11Protocol
else:
    _Base = object


class ReadDeadlines(_Base):
    """A mixin for uvicorn's HTTP/1.1 protocols: a connection must deliver a request's headers within
    ``header_timeout`` seconds (from when it opens, or from the previous answer) and its body within
    ``body_timeout`` seconds of the headers; otherwise it gets 408 (where no answer has started) and is
    closed. A request that has fully arrived is not timed here (the work queue's timeout bounds it).
    It uses the protocol's ``cycle`` (``more_body``, ``response_started``, ``response_complete``), which
    uvicorn's h11 and httptools protocols share."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0

    def __init__(self, *args: Any, header_timeout: float = 10.0, body_timeout: float = 30.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout, self.body_timeout = header_timeout, body_timeout
        self._deadline: asyncio.TimerHandle | None = None
        self._timed_cycle: object = None  # the request whose body is being timed

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return
        if cycle is not self._timed_cycle:  # a new request's headers are in: now its body has body_timeout
            self._timed_cycle = cycle
            self._arm(self.body_timeout)
        if not cycle.more_body:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm(self.header_timeout)  # the next request on this connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        cycle = self.cycle
        waiting_for_body = cycle is not None and cycle is self._timed_cycle and not cycle.response_complete
        if waiting_for_body and not cycle.more_body or self.transport.is_closing():
            return
        what = f"body within {self.body_timeout:g} s" if waiting_for_body else \
            f"headers within {self.header_timeout:g} s"
        _log.warning("%s: closed a connection that sent no complete request %s", _client(self.client), what)
        if not (waiting_for_body and cycle.response_started):
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


def _client(address: tuple[str, int] | None) -> str:
    return f"{address[0]}:{address[1]}" if address else "a client"


class H11Deadlines(ReadDeadlines, H11Protocol):
    """uvicorn's h11 protocol with :class:`ReadDeadlines`."""


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # uvicorn without its [standard] extra: h11 only
    HTTP_PROTOCOL: type[ReadDeadlines] = H11Deadlines
else:
    class HttpToolsDeadlines(ReadDeadlines, HttpToolsProtocol):  # type: ignore[misc]  # (typed as h11)
        """uvicorn's httptools protocol (its default where httptools is installed) with :class:`ReadDeadlines`."""

    HTTP_PROTOCOL = HttpToolsDeadlines


def http_protocol(header_timeout: float, body_timeout: float) -> type[asyncio.Protocol]:
    """The ``http`` to give uvicorn: its usual HTTP/1.1 protocol with these read deadlines (picklable, for
    ``--workers``)."""
    return cast("type[asyncio.Protocol]", functools.partial(HTTP_PROTOCOL, header_timeout=header_timeout,
                                                            body_timeout=body_timeout))
