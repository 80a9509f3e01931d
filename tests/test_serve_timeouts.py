"""`facerec serve` against slow clients and slow work: real uvicorn on a free loopback port, raw sockets.

A client that trickles its request headers or body (slowloris) is answered 408 and disconnected within
the configured deadline; a read that overruns the work timeout is answered 503 and its work stops.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")

from enrollment import AccessStore  # noqa: E402
from facerec.gallery import Gallery  # noqa: E402
from facerec.serve import ServeSettings, create_app  # noqa: E402
from facerec.serve.limits import Cancelled, Overloaded, WorkQueue, check_cancelled  # noqa: E402
from tests.conftest import lfw  # noqa: E402
from tests.serve_helpers import serve_in_thread  # noqa: E402

HEADER_TIMEOUT, BODY_TIMEOUT = 1.0, 1.5
SLACK = 1.5  # seconds past a deadline the server may take to close (a loaded two-core machine)


@contextmanager
def serving(recognizer, tmp: Path) -> Iterator[tuple[int, str]]:  # noqa: ANN001
    """The app on uvicorn with the options `facerec serve` runs it with; yields the port and a read key."""
    import uvicorn

    db = tmp / "gallery.db"
    settings = ServeSettings(db=str(db), header_timeout_s=HEADER_TIMEOUT, body_timeout_s=BODY_TIMEOUT,
                             rate_per_key=0)
    access = AccessStore(f"sqlite:///{db}")
    key = access.create_key("read", label="slow client")[1]
    access.close()
    app = create_app(settings, gallery=Gallery(recognizer, db=f"sqlite:///{db}"))
    config = uvicorn.Config(app, log_level="error", lifespan="on", **settings.server_options())
    with serve_in_thread(config) as port:
        yield port, key


@pytest.fixture(scope="module")
def server(recognizer, tmp_path_factory, one_torch_thread):
    with serving(recognizer, tmp_path_factory.mktemp("slow")) as running:
        yield running


def trickle(port: int, head: bytes, drip: bytes, every: float = 0.2, limit: float = 10.0) -> tuple[float, bytes]:
    """Send ``head`` at once, then ``drip`` a byte at a time every ``every`` s until the server closes the
    connection (or ``limit`` s pass); the seconds that took and what the server answered."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as conn:
        conn.setblocking(False)
        start = time.monotonic()
        conn.sendall(head)
        n = 0
        while time.monotonic() - start < limit:
            try:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                answer += chunk
            except BlockingIOError:
                pass
            except ConnectionResetError:
                break
            try:
                conn.send(drip[n % len(drip) : n % len(drip) + 1])
                n += 1
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(every)
        return time.monotonic() - start, answer


def test_trickled_headers_are_cut_off(server):
    port, _key = server
    seconds, answer = trickle(port, b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Slow: yes\r\n")
    assert seconds < HEADER_TIMEOUT + SLACK, f"the connection stayed open {seconds:.1f} s"
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_a_silent_connection_is_cut_off(server):
    port, _key = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        start = time.monotonic()
        answer = conn.recv(65536)
        while answer and not answer.endswith(b"\n"):
            answer += conn.recv(65536)
        assert conn.recv(65536) == b""  # closed
        assert time.monotonic() - start < HEADER_TIMEOUT + SLACK
        assert answer.startswith(b"HTTP/1.1 408"), answer


def test_trickled_body_is_cut_off(server):
    port, key = server
    head = (f"POST /v1/identify HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n"
            "Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 100000\r\n\r\n"
            "--xyz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\r\n").encode()
    seconds, answer = trickle(port, head, b"0123456789")
    assert seconds < BODY_TIMEOUT + SLACK, f"the connection stayed open {seconds:.1f} s"
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_prompt_clients_are_answered_and_kept_alive(server):
    """Deadlines leave a normal client alone: a photo posted at once is answered, and a second request on
    the same connection after a pause shorter than the header deadline is answered too."""
    import httpx

    port, key = server
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=60) as client:
        photo = lfw("Abel_Pacheco").read_bytes()
        first = client.post("/v1/identify", files={"image": ("a.jpg", photo, "image/jpeg")})
        assert first.status_code == 200, first.text
        time.sleep(HEADER_TIMEOUT / 2)
        assert client.get("/v1/health").status_code == 200


def test_a_read_that_times_out_stops_its_work():
    """The queue answers 503 when a read overruns its timeout, and the job's next step does not run."""
    queue = WorkQueue(concurrency=1, capacity=2, timeout_s=0.3)
    steps: list[str] = []
    stopped = threading.Event()

    def job() -> str:
        steps.append("decode a")
        time.sleep(0.8)  # a long step: the request times out meanwhile
        try:
            check_cancelled()
        except Cancelled:
            stopped.set()
            raise
        steps.append("decode b")
        return "answer"

    async def request() -> None:
        with pytest.raises(Overloaded, match="took over"):
            await queue.run(job)

    asyncio.run(request())
    assert stopped.wait(5), "the job was not told to stop"
    time.sleep(0.1)
    assert steps == ["decode a"]
    assert queue.admitted == 0  # its place in the queue is free again
    queue.close()


def test_a_write_that_times_out_is_finished():
    queue = WorkQueue(concurrency=1, capacity=2, timeout_s=0.2)

    def job() -> str:
        time.sleep(0.5)
        check_cancelled()  # a write is never cancelled once started
        return "enrolled"

    assert asyncio.run(queue.run(job, write=True)) == "enrolled"
    queue.close()
