"""The service's audit log and logs: bounded lines that never block the rest, denied requests and CLI key
changes recorded, no server path in stats, no person's name in the access log. Real uvicorn on 127.0.0.1,
real SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import httpx
import pytest
from click.testing import CliRunner

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")

from enrollment import AccessStore  # noqa: E402
from facerec.cli import main  # noqa: E402
from facerec.gallery import Gallery  # noqa: E402
from facerec.serve import ServeSettings, create_app  # noqa: E402
from tests.backends import DATABASES, database  # noqa: E402
from tests.serve_helpers import serve_in_thread  # noqa: E402

LONG_NAME = "A" * 1_100  # over audit_log.person's 1,024 characters


@pytest.fixture(params=DATABASES)
def db_url(request, tmp_path) -> Iterator[str]:  # noqa: ANN001
    yield from database(request.param, tmp_path)


class Server:
    def __init__(self, url: str, keys: dict[str, str], access_log: io.StringIO) -> None:
        self.url, self.keys, self.access_log = url, keys, access_log

    def client(self, role: str | None = "admin") -> httpx.Client:
        headers = {"X-API-Key": self.keys[role]} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def audit(self) -> list[dict]:
        with self.client("admin") as admin:
            answer = admin.get("/v1/audit", params={"limit": 1_000})
        assert answer.status_code == 200, answer.text
        return answer.json()["audit"]


@contextmanager
def serving(recognizer, url: str, tmp: Path) -> Iterator[Server]:  # noqa: ANN001
    """The app on a free 127.0.0.1 port with uvicorn's own logging at info, the access log captured as
    uvicorn formats it."""
    import uvicorn
    from uvicorn.logging import AccessFormatter

    access = AccessStore(url)
    keys = {role: access.create_key(role, label=f"test {role}")[1] for role in ("read", "enroll", "admin")}
    access.close()
    gallery = Gallery(recognizer, db=url, index_path=tmp / "gallery.faiss")
    app = create_app(ServeSettings(db=url, index_path=str(tmp / "gallery.faiss"), rate_per_key=0), gallery=gallery)
    config = uvicorn.Config(app, log_level="info", lifespan="on")  # configures uvicorn's loggers
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
    try:
        with serve_in_thread(config) as port:
            logging.getLogger("uvicorn.access").addHandler(handler)
            yield Server(f"http://127.0.0.1:{port}", keys, captured)
    finally:
        logging.getLogger("uvicorn.access").removeHandler(handler)


def test_an_over_long_name_does_not_silence_the_audit_log(recognizer, db_url, tmp_path):
    with serving(recognizer, db_url, tmp_path) as server:
        with server.client("enroll") as client:
            assert client.delete(f"/v1/people/{LONG_NAME}").status_code == 404
            server.audit()  # the long line is written (or fails) before the next one is queued
            assert client.delete("/v1/people/Nul%00Name").status_code == 404  # PostgreSQL refuses NUL in text
            server.audit()
            assert client.delete("/v1/people/Later Person").status_code == 404
        lines = server.audit()
    removals = [line["person"] for line in lines if line["action"] == "remove"]
    assert "Later Person" in removals
    [cut] = [person for person in removals if person.startswith("AAAA")]
    assert len(cut) <= 1_024 and cut.endswith("…") and cut != LONG_NAME
    assert "Nul\ufffdName" in removals


def test_one_line_the_database_refuses_does_not_block_the_others(db_url):
    from enrollment import AuditRecord
    from facerec.serve.audit import AuditLog

    access = AccessStore(db_url)
    log = AuditLog(access, interval_s=3_600)
    try:
        log.record("k" * 12, "remove", "before", "ok")
        with log._lock:  # a line no bounding of its text can repair: a time the database cannot store
            log._pending.append(AuditRecord("k" * 12, "remove", "poison", "ok", "not a time"))  # type: ignore[arg-type]
        log.record("k" * 12, "remove", "after", "ok")
        log.flush()
        log.flush()
        people = [line.person for line in access.audit(10)]
    finally:
        log.close()
        access.close()
    assert "before" in people and "after" in people and "poison" not in people


def test_lines_wait_while_the_database_takes_none(tmp_path):
    from enrollment.access import AuditEntry
    from facerec.serve.audit import AuditLog

    access = AccessStore(f"sqlite:///{tmp_path / 'gallery.db'}")
    log = AuditLog(access, interval_s=3_600)
    try:
        log.record("k" * 12, "remove", "first", "ok")
        log.record("k" * 12, "remove", "second", "ok")
        AuditEntry.__table__.drop(access.engine)  # every write fails, the stand-ins too: nothing is at fault
        log.flush()
        AuditEntry.__table__.create(access.engine)
        log.flush()
        lines = [(line.person, line.outcome) for line in access.audit(10)]
    finally:
        log.close()
        access.close()
    assert sorted(lines) == [("first", "ok"), ("second", "ok")]


def test_denied_requests_are_audited(recognizer, tmp_path):
    url = f"sqlite:///{tmp_path / 'gallery.db'}"
    with serving(recognizer, url, tmp_path) as server:
        with server.client(None) as anonymous:
            assert anonymous.delete("/v1/people/Grace Hopper").status_code == 401
        wrong = server.keys["enroll"][:-4] + "AAAA"
        with httpx.Client(base_url=server.url, headers={"X-API-Key": wrong}) as stolen:
            assert stolen.get("/v1/people").status_code == 401
        with server.client("read") as reader:
            assert reader.delete("/v1/people/Grace Hopper").status_code == 403
            assert reader.get("/v1/keys").status_code == 403
        lines = [line for line in server.audit() if line["action"] == "denied"]
    read_id, enroll_id = (server.keys[role].split("_")[1] for role in ("read", "enroll"))
    outcomes = {(line["key_id"], line["person"], line["outcome"].split(":")[0]) for line in lines}
    assert ("-", "Grace Hopper", "401 DELETE /v1/people/{name}") in outcomes
    assert (enroll_id, None, "401 GET /v1/people") in outcomes  # the key id presented, never its secret
    assert (read_id, "Grace Hopper", "403 DELETE /v1/people/{name}") in outcomes
    assert (read_id, None, "403 GET /v1/keys") in outcomes
    assert not any(key.split("_", 2)[2] in json.dumps(lines) for key in server.keys.values())


def test_cli_key_changes_are_audited(tmp_path):
    db = str(tmp_path / "keys.db")
    runner = CliRunner()
    created = runner.invoke(main, ["keys", "create", "--role", "read", "--label", "door", "--db", db, "--json"])
    assert created.exit_code == 0, created.output
    key_id = json.loads(created.stdout)["key_id"]
    assert runner.invoke(main, ["keys", "revoke", key_id, "--db", db]).exit_code == 0
    access = AccessStore(f"sqlite:///{db}")
    lines = [(line.key_id, line.action, line.outcome) for line in access.audit(10)]
    access.close()
    assert ("cli", "key-create", f"created {key_id} (read)") in lines
    assert ("cli", "key-revoke", f"revoked {key_id}") in lines


def test_stats_name_the_vector_backend_but_no_server_path(recognizer, tmp_path):
    url = f"sqlite:///{tmp_path / 'gallery.db'}"
    with serving(recognizer, url, tmp_path) as server:
        with server.client("read") as client:
            stats = client.get("/v1/stats").json()
    assert stats["backend"] == "faiss"
    assert str(tmp_path) not in json.dumps(stats) and "gallery.faiss" not in json.dumps(stats)


def test_the_access_log_names_routes_not_people(recognizer, tmp_path):
    url = f"sqlite:///{tmp_path / 'gallery.db'}"
    with serving(recognizer, url, tmp_path) as server:
        with server.client("enroll") as client:
            assert client.patch(f"/v1/people/{quote('Ada Lovelace')}", json={"name": "Ada King"}).status_code == 404
            assert client.delete("/v1/people/Ada%20Lovelace", params={"who": "Ada"}).status_code == 404
            assert client.get("/v1/peoples/Ada Lovelace").status_code == 404
            assert client.get("/v1/people").status_code == 200
        with server.client(None) as anonymous:
            assert anonymous.delete("/v1/people/Ada Lovelace").status_code == 401
        time.sleep(0.2)
        logged = server.access_log.getvalue()
    assert "Ada" not in logged and "Lovelace" not in logged, logged
    assert '"PATCH /v1/people/{name} HTTP/1.1" 404' in logged, logged
    assert '"DELETE /v1/people/{name}' in logged and '"GET /v1/people HTTP/1.1" 200' in logged, logged


def test_a_flood_of_unauthenticated_requests_leaves_a_bounded_audit_log(recognizer, tmp_path):
    url = f"sqlite:///{tmp_path / 'gallery.db'}"
    junk = "\x1b[31m\u202e" + "B" * 1_000  # an ANSI escape, a right-to-left override and 1,000 more characters
    sent = 80  # a naive log would write 80 lines; the bound is 20
    with serving(recognizer, url, tmp_path) as server:
        with server.client(None) as anonymous:
            for number in range(sent // 2):
                assert anonymous.delete(f"/v1/people/{quote(junk + str(number), safe='')}").status_code == 401
            for number in range(sent - sent // 2):  # guessed keys, each with 1,000 characters of secret
                guess = {"X-API-Key": f"frk_{number:012x}_" + "C" * 1_000}
                assert anonymous.get("/v1/people", headers=guess).status_code == 401
    access = AccessStore(url)  # the service has stopped: every line and summary is written
    lines = [line for line in access.audit(10_000) if line.action == "denied"]
    access.close()
    summaries = [line for line in lines if "not recorded one by one" in line.outcome]
    detailed = [line for line in lines if line not in summaries]
    assert len(lines) <= 20, len(lines)  # a few lines a minute, not one a request
    counted = sum(int(line.outcome.split(": ")[1].split()[0]) for line in summaries)
    assert len(detailed) + counted == sent  # and they still say how many were refused
    assert all("from 127.0.0.1" in line.outcome for line in lines)
    assert any(line.outcome.startswith("401 DELETE /v1/people/{name}: no key") for line in detailed)
    for line in lines:
        text = f"{line.key_id} {line.person} {line.outcome}"
        assert len(line.person or "") <= 80 and "\x1b" not in text and "\u202e" not in text, text
    assert any((line.person or "").startswith("\\x1b[31m\\u202eBBB") for line in detailed)


def test_refusals_are_tallied_per_address_and_minute():
    from datetime import datetime, timedelta, timezone

    from facerec.serve.audit import RefusalTally

    start = datetime(2026, 12, 7, 19, 41, 30, tzinfo=timezone.utc)
    tally = RefusalTally(per_client=2, total=3, clients=2)
    written = [tally.add(start, f"10.0.0.{n % 4}", "-", None, "401 GET /v1/people: no key") for n in range(40)]
    assert len([line for line in written if line is not None]) == 3  # at most `total` lines in full a minute
    assert tally.due(start + timedelta(seconds=20)) == []  # the same minute: nothing to sum up yet
    summaries = tally.due(start + timedelta(seconds=31))
    outcomes = sorted(line.outcome for line in summaries)
    assert len(summaries) == 3  # one per counted address (at most `clients`), one for the rest
    assert sum(int(outcome.split(": ")[1].split()[0]) for outcome in outcomes) == 40 - 3
    assert any("from other addresses" in outcome for outcome in outcomes)
    assert tally.add(start + timedelta(minutes=1), "10.0.0.1", "-", None, "401 GET /v1/people: no key") is not None
