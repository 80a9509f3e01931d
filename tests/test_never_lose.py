"""Never lose what a user stored: no command deletes a database file, a foreign database is refused,
and a change committed to the database is reported as committed even when the index file cannot be written.

Real parts throughout: the CLI in subprocesses (concurrent enrollers), real SQLite files, real FAISS files.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from enrollment import GalleryError, GalleryStore, NewFace, read_info
from facerec.cli import main
from tests.conftest import ROOT, lfw

PEOPLE = ["Abel_Pacheco", "Amber_Tamblyn", "Aaron_Sorkin"]


def cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dump(path: Path) -> str:
    """The database's contents (a WAL file is checkpointed by any reader's close, so bytes may move)."""
    with sqlite3.connect(path) as connection:
        return "\n".join(connection.iterdump())


def test_a_failed_first_enroll_leaves_no_file_and_deletes_none(tmp_path, no_face_photo):
    db = tmp_path / "g.db"
    result = cli("enroll", "Nobody", no_face_photo, "--db", db)
    assert result.exit_code == 1 and "no face detected" in result.output and "Traceback" not in result.output
    assert not db.exists() and not (tmp_path / "g.faiss").exists()  # nothing was made...
    assert "created a new gallery" not in result.output
    assert cli("enroll", "Abel", lfw("Abel_Pacheco"), "--db", db).exit_code == 0
    os.remove(tmp_path / "g.faiss")  # ...and an existing gallery is never deleted by a failure
    for _ in range(2):
        assert cli("enroll", "Nobody", no_face_photo, "--db", db).exit_code == 1
        assert db.exists()
    assert cli("remove", "Abel", "--db", db).exit_code == 0  # now empty: a failure must still not delete it
    assert cli("enroll", "Nobody", no_face_photo, "--db", db).exit_code == 1
    assert db.exists() and read_info(f"sqlite:///{db}") is not None


def test_an_empty_gallery_takes_the_model_now_in_use(tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    GalleryStore(url, model="a", dim=2).close()
    store = GalleryStore(url, model="b", dim=3)  # nothing in it could be mis-scored: rebound
    assert read_info(url) == ("b", 3)
    store.enroll("x", [NewFace(__import__("numpy").ones(3, "f4"), "ab" * 32)])
    with pytest.raises(GalleryError, match="holds b embeddings"):
        GalleryStore(url, model="a", dim=2)


@pytest.mark.parametrize("kind", ["other-program", "keys-only"])
def test_a_database_that_is_not_a_gallery_is_never_deleted(tmp_path, no_face_photo, kind):
    db = tmp_path / "other.db"
    if kind == "other-program":
        with sqlite3.connect(db) as connection:
            connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
            connection.executemany("INSERT INTO invoices (amount) VALUES (?)", [(i,) for i in range(1000)])
    else:  # a gallery database holding only API keys and audit rows
        assert cli("keys", "create", "--role", "admin", "--db", db).exit_code == 0
    before, contents = digest(db), dump(db)
    result = cli("enroll", "Nobody", no_face_photo, "--db", db)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert db.exists() and dump(db) == contents
    if kind == "other-program":  # not even switched to WAL: the file is byte-identical
        assert digest(db) == before
    result = cli("enroll", "Abel", lfw("Abel_Pacheco"), "--db", db)
    if kind == "other-program":
        assert result.exit_code == 1 and "another program" in result.output and "invoices" in result.output
        assert digest(db) == before
        with sqlite3.connect(db) as connection:
            assert connection.execute("SELECT count(*) FROM invoices").fetchone() == (1000,)
    else:
        assert result.exit_code == 0, result.output
        keys = json.loads(cli("keys", "list", "--json", "--db", db).stdout)
        assert len(keys["keys"] if isinstance(keys, dict) else keys) == 1  # the key is still there


@pytest.mark.parametrize("target", ["text", "bogus-url", "folder"])
def test_hostile_db_targets_get_one_line(tmp_path, target):
    if target == "text":
        db: object = tmp_path / "notes.db"
        Path(db).write_text("not a database at all\n" * 100)
    elif target == "bogus-url":
        db = "bogus://nowhere/x"
    else:
        db = tmp_path
    before = digest(Path(db)) if target == "text" else None
    for args in (["enroll", "Abel", lfw("Abel_Pacheco")], ["list"], ["identify", lfw("Abel_Pacheco", 2)]):
        result = cli(*args, "--db", db)
        assert result.exit_code != 0 and "Traceback" not in result.output and result.output.startswith("Error:"), \
            (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if before is not None:
        assert digest(Path(db)) == before


def test_an_index_file_that_cannot_be_written_does_not_undo_a_committed_enroll(tmp_path):
    db, index = tmp_path / "g.db", tmp_path / "g.faiss"
    assert cli("enroll", "Abel", lfw("Abel_Pacheco"), "--db", db).exit_code == 0
    blocker = tmp_path / "g.faiss.tmp"
    blocker.mkdir()  # the index's temporary file cannot be written now (permissions do not stop root)
    before = digest(index)
    result = cli("enroll", "Amber", lfw("Amber_Tamblyn"), "--db", db)
    assert result.exit_code == 0, result.output  # it is in the database: the exit status says so
    assert "committed to the database" in result.output and "Traceback" not in result.output
    assert digest(index) == before and blocker.is_dir()  # the old index file is left whole
    listed = cli("list", "--json", "--db", db)
    assert listed.exit_code == 0 and json.loads(listed.stdout)["count"] == 2
    found = cli("identify", lfw("Amber_Tamblyn", 2), "--json", "--db", db)
    assert found.exit_code == 0 and json.loads(found.stdout)["faces"][0]["name"] == "Amber"
    blocker.rmdir()  # once the file can be written again, the index catches up from the database
    assert cli("enroll", "Aaron", lfw("Aaron_Sorkin"), "--db", db).exit_code == 0
    stats = json.loads(cli("index", "stats", "--json", "--db", db).stdout)
    assert stats["identities"] == 3 and stats["indexed"] == 3 and stats["in_step"]
    assert not list(tmp_path.glob("*.tmp"))  # no stale temporary file


def test_a_gallery_of_the_oldest_schema_opens_and_is_migrated(tmp_path):
    db = tmp_path / "old.db"
    assert cli("enroll", "Abel", lfw("Abel_Pacheco"), "--db", db).exit_code == 0
    with sqlite3.connect(db) as connection:  # back to the first schema: no log_from, no detector columns
        connection.execute("ALTER TABLE gallery_info DROP COLUMN log_from")
        connection.execute("ALTER TABLE faces DROP COLUMN detector")
    for args in (["list", "--json"], ["identify", lfw("Abel_Pacheco", 2), "--json"]):
        result = cli(*args, "--db", db)
        assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as connection:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(gallery_info)")}
    assert "log_from" in columns


ENROLL = [sys.executable, "-m", "facerec", "enroll", "-q", "--json"]


def test_concurrent_first_enrollers_lose_no_acknowledged_face(tmp_path, no_face_photo):
    """Three good enrollers and one that fails start together on a new gallery, several rounds: every face
    an enroller acknowledged is in the database and the index at the end."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", "")}
    env = {k: v for k, v in env.items() if v}
    for round_number in range(2):
        db = tmp_path / f"round{round_number}.db"
        good = [subprocess.Popen([*ENROLL, person, str(lfw(person)), "--db", str(db)], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for person in PEOPLE]
        bad = subprocess.Popen([*ENROLL, "Nobody", str(ROOT / "README.md"), "--db", str(db)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        acknowledged = {}
        for process, person in zip(good, PEOPLE):
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
            acknowledged[person] = json.loads(out)["faces_added"]
        bad.communicate(timeout=300)
        assert bad.returncode == 1 and db.exists()
        listed = json.loads(cli("list", "--json", "--db", db).stdout)
        assert {p["name"]: p["faces"] for p in listed["people"]} == acknowledged
        stats = json.loads(cli("index", "stats", "--json", "--db", db).stdout)
        assert stats["in_step"] and stats["indexed"] == sum(acknowledged.values()) == 3


@pytest.mark.parametrize("flag", ["mode=ro", "immutable=1"])
def test_a_read_only_database_refuses_writes_in_one_line(tmp_path, flag):
    db = tmp_path / "g.db"
    assert cli("enroll", "Abel", lfw("Abel_Pacheco"), "--db", db).exit_code == 0
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    contents = dump(db)
    url = f"sqlite:///file:{db}?{flag}&uri=true"
    for args in (["enroll", "Amber", lfw("Amber_Tamblyn")], ["rename", "Abel", "Abe"], ["remove", "Abel"]):
        result = cli(*args, "--db", url)
        assert result.exit_code == 1 and result.output.startswith("Error:") and "Traceback" not in result.output, \
            (args, result.output)
        assert "read" in result.output.lower()  # "attempt to write a readonly database"
    assert dump(db) == contents
    assert not (ROOT / "file:").exists()  # the index beside the database, not under a folder named "file:"


def test_keys_and_serve_never_write_into_another_programs_database(tmp_path):
    """`keys list|create|revoke` and `serve` made api_keys and audit_log tables in another program's SQLite file
    and switched it to WAL (issue 34): now each refuses it in one line and leaves it byte-identical."""
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
        connection.execute("INSERT INTO invoices (amount) VALUES (1.5)")
    connection.close()
    before = digest(db)
    for args in (["keys", "list"], ["keys", "create", "--role", "admin"], ["keys", "revoke", "0123456789ab"],
                 ["serve", "--port", "0"]):
        result = cli(*args, "--db", db)
        assert result.exit_code == 1 and "another program" in result.output and "Traceback" not in result.output, \
            (args, result.output)
        assert digest(db) == before, args
        assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"], args  # no -wal, no -shm


def test_reading_keys_of_a_database_that_does_not_exist_says_so_and_creates_nothing(tmp_path):
    db = tmp_path / "typo.db"
    for args in (["keys", "list"], ["keys", "list", "--json"], ["keys", "revoke", "0123456789ab"]):
        result = cli(*args, "--db", db)
        assert result.exit_code == 1 and "no gallery database at" in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
    assert cli("keys", "create", "--role", "admin", "--db", db).exit_code == 0  # a key for a gallery to come
    listed = cli("keys", "list", "--json", "--db", db)
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)["keys"]) == 1
