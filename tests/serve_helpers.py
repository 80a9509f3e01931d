"""A facerec service on a free loopback port, in a thread of the test process (real HTTP, real sockets)."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

from enrollment import AccessStore
from facerec.gallery import Gallery
from facerec.serve import ServeSettings, create_app


class RunningServer:
    def __init__(self, url: str, db: Path, gallery: Gallery, keys: dict[str, str]) -> None:
        self.url, self.db, self.gallery, self.keys = url, db, gallery, keys

    def client(self, role: str | None = "admin", **headers: str) -> httpx.Client:
        if role is not None:
            headers.setdefault("X-API-Key", self.keys[role])
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@contextmanager
def running_server(recognizer, tmp: Path, **limits) -> Iterator[RunningServer]:  # noqa: ANN001
    """Start ``facerec serve``'s app with uvicorn on 127.0.0.1 and a free port; stop it afterwards."""
    import uvicorn

    db = tmp / "gallery.db"
    settings = ServeSettings(db=str(db), **limits)
    access = AccessStore(f"sqlite:///{db}")
    keys = {role: access.create_key(role, label=f"test {role}")[1] for role in ("read", "enroll", "admin")}
    access.close()
    gallery = Gallery(recognizer, db=f"sqlite:///{db}")
    app = create_app(settings, gallery=gallery)
    with serve_in_thread(uvicorn.Config(app, log_level="warning", lifespan="on")) as port:
        yield RunningServer(f"http://127.0.0.1:{port}", db, gallery, keys)


@contextmanager
def serve_in_thread(config) -> Iterator[int]:  # noqa: ANN001 - a uvicorn.Config
    """Run a uvicorn server for ``config`` in a thread on 127.0.0.1 and a free port; yield the port once it
    answers, stop it afterwards."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
