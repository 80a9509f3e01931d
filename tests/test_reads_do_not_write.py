"""Reads write nothing, and a gallery keeps its index kind (issue 28, item 1).

Byte-identical, honestly: the gallery's SQLite database runs in WAL mode, so a committed write may sit in
``g.db-wal`` rather than in ``g.db``, and the last connection to close checkpoints the WAL into the file.
:func:`digests` therefore checkpoints the WAL into the database (``PRAGMA wal_checkpoint(TRUNCATE)``) before
hashing, both before and after the read: a write made by the read is then in ``g.db`` and changes its hash,
and what earlier writers left in the WAL is already in the "before" hash. ``-shm`` (the WAL's shared-memory
index, which readers update) and ``*.lock`` (empty lock files) are not data and are left out.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from enrollment import Gallery as Store
from enrollment import IndexKindError, NewFace
from facerec.cli import main
from index import read_meta
from tests.backends import BACKENDS, vectors_uri
from tests.conftest import lfw

PEOPLE = ("Abel_Pacheco", "Akhmed_Zakayev", "Amber_Tamblyn")


def cli(*args: object, db: Path):  # noqa: ANN201 - a click Result
    return CliRunner().invoke(main, [*map(str, args), "--db", str(db)])


def digests(db: Path) -> dict[str, str]:
    """sha256 of every data file of the gallery in ``db``'s folder, after checkpointing the WAL (see above)."""
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    files = sorted(p for p in db.parent.iterdir() if p.is_file() and not p.name.endswith((".lock", "-shm")))
    found = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    found.setdefault(db.name + "-wal", hashlib.sha256(b"").hexdigest())  # no WAL file is an empty WAL
    return found


def kept_kind(db: Path) -> str | None:
    with sqlite3.connect(db) as connection:
        row = connection.execute("select value from gallery_settings where name = 'index'").fetchone()
    connection.close()
    return json.loads(row[0])["kind"] if row else None


@pytest.fixture(scope="module")
def gallery_db(tmp_path_factory) -> Path:
    """A gallery of three people, enrolled through the CLI (a new gallery: flat)."""
    db = tmp_path_factory.mktemp("reads") / "g.db"
    for name in PEOPLE:
        result = cli("enroll", name, lfw(name, 1), db=db)
        assert result.exit_code == 0, result.output
    return db


READS = {
    "index stats": ("index", "stats", "--json"),
    "list": ("list", "--json"),
    "identify": ("identify", lfw("Abel_Pacheco", 2), "--json"),
}


def check_reads_write_nothing(db: Path, read: str) -> None:
    assert json.loads(cli("index", "stats", "--json", db=db).stdout)["in_step"]
    before = digests(db)
    result = cli(*READS[read], db=db)
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)
    assert digests(db) == before, f"`facerec {read}` wrote to the gallery"


@pytest.mark.parametrize("read", ["index stats", "list", "identify"])
def test_reads_leave_a_flat_gallery_byte_identical(gallery_db, read):
    check_reads_write_nothing(gallery_db, read)


@pytest.fixture(scope="module")
def pq_gallery_db(gallery_db, tmp_path_factory) -> Path:
    """The same gallery, rebuilt as pq (copied, so the flat one stays as it is)."""
    db = tmp_path_factory.mktemp("pq") / "g.db"
    with sqlite3.connect(gallery_db) as source, sqlite3.connect(db) as target:
        source.backup(target)
    source.close()
    target.close()
    result = cli("index", "rebuild", "--index-kind", "pq", "--json", db=db)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["index_kind"] == "pq"
    return db


@pytest.mark.parametrize("read", ["index stats", "list", "identify"])
def test_reads_leave_a_pq_gallery_byte_identical(pq_gallery_db, read):
    """The reported bug: after `index rebuild --index-kind pq`, a plain `index stats` rebuilt the index as flat."""
    check_reads_write_nothing(pq_gallery_db, read)
    assert read_meta(pq_gallery_db.with_suffix(".faiss")).kind == "pq"
    assert json.loads(cli("index", "stats", "--json", db=pq_gallery_db).stdout)["index_kind"] == "pq"


def test_the_kind_is_kept_with_the_gallery_and_changed_only_by_rebuild(gallery_db, tmp_path):
    db = tmp_path / "g.db"
    with sqlite3.connect(gallery_db) as source, sqlite3.connect(db) as target:
        source.backup(target)
    source.close()
    target.close()
    assert kept_kind(db) == "flat"  # recorded when the gallery was first written
    assert cli("index", "rebuild", "--index-kind", "hnsw", db=db).exit_code == 0
    assert kept_kind(db) == "hnsw" and read_meta(db.with_suffix(".faiss")).kind == "hnsw"
    # Another kind on any other command is refused, naming the command that changes it; nothing is written.
    before = digests(db)
    for args in (("index", "stats"), ("list",), ("identify", lfw("Abel_Pacheco", 2)),
                 ("enroll", "Abel_Pacheco", lfw("Abel_Pacheco", 3))):
        result = cli(*args, "--index-kind", "flat", db=db)
        assert result.exit_code == 1, (args, result.output)
        assert "keeps a 'hnsw' vector index" in result.output, result.output
        assert "`facerec index rebuild --index-kind flat`" in result.output, result.output
        assert "Traceback" not in result.output
    assert digests(db) == before
    # A write without --index-kind keeps the gallery's kind.
    assert cli("enroll", "Abel_Pacheco", lfw("Abel_Pacheco", 3), db=db).exit_code == 0
    stats = json.loads(cli("index", "stats", "--json", db=db).stdout)
    assert stats["index_kind"] == "hnsw" and stats["in_step"] and stats["faces"] == len(PEOPLE) + 1
    assert read_meta(db.with_suffix(".faiss")).kind == "hnsw"


def test_a_gallery_from_before_the_kind_was_kept_keeps_its_index(pq_gallery_db, tmp_path):
    """No kind recorded (an older gallery): a read takes the kind of the index it has, and writes nothing."""
    db = tmp_path / "g.db"
    with sqlite3.connect(pq_gallery_db) as source, sqlite3.connect(db) as target:
        source.backup(target)
        target.execute("delete from gallery_settings where name = 'index'")
    source.close()
    target.close()
    for suffix in (".faiss", ".faiss.json"):
        (tmp_path / f"g{suffix}").write_bytes(pq_gallery_db.with_suffix(suffix).read_bytes())
    before = digests(db)
    stats = json.loads(cli("index", "stats", "--json", db=db).stdout)
    assert stats["index_kind"] == "pq" and stats["in_step"]
    assert digests(db) == before and kept_kind(db) is None


def test_the_service_and_the_library_use_the_kept_kind(pq_gallery_db, recognizer):
    from facerec.gallery import Gallery
    from facerec.serve.app import open_gallery
    from facerec.serve.settings import ServeSettings

    library = Gallery(recognizer, db=pq_gallery_db)
    assert library.store.kind == "pq" and library.store.last_sync == "none"
    library.close()
    service = open_gallery(ServeSettings(db=str(pq_gallery_db)))
    assert service.store.kind == "pq" and service.store.last_sync == "none"
    service.close()


def unit_vectors(count: int, dim: int = 8) -> np.ndarray:
    vectors = np.random.default_rng(count).standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_keeps_the_gallery_kind(backend, tmp_path):
    url, vectors = f"sqlite:///{tmp_path / 'g.db'}", vectors_uri(backend, tmp_path)
    store = Store(url, model="m", dim=8, vectors=vectors, index_kind="hnsw")
    store.enroll("ada", [NewFace(v, f"{i:064x}") for i, v in enumerate(unit_vectors(5))])
    store.close()
    again = Store(url, model="m", dim=8, vectors=vectors)  # no kind: the gallery's
    assert again.kind == "hnsw" and again.last_sync == "none"
    again.close()
    with pytest.raises(IndexKindError, match="keeps a 'hnsw' vector index, not 'flat'") as refused:
        Store(url, model="m", dim=8, vectors=vectors, index_kind="flat")
    assert "--" not in str(refused.value) and "index rebuild --index-kind flat" in (refused.value.hint or "")
    changed = Store(url, model="m", dim=8, vectors=vectors)
    changed.rebuild(kind="flat")
    changed.close()
    last = Store(url, model="m", dim=8, vectors=vectors)
    assert last.kind == "flat" and last.last_sync == "none" and len(last.index) == 5
    last.close()


# --- Read-only storage (issue 34): a gallery that cannot be written is read as it is --------------------------


def _copy_gallery(gallery_db: Path, folder: Path) -> Path:
    """The gallery's database (its WAL taken in) and index files, copied into ``folder``."""
    import shutil

    digests(gallery_db)  # checkpoints the WAL into the database file
    folder.mkdir()
    for path in gallery_db.parent.iterdir():
        if path.is_file() and not path.name.endswith(("-wal", "-shm", ".lock")):
            shutil.copy2(path, folder / path.name)
    return folder / gallery_db.name


def _tree(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def read_only_gallery(gallery_db, tmp_path) -> Path:
    """A copy of the gallery on read-only storage: its folder and files immutable (``chattr +i``, which stops
    root too), made writable again afterwards."""
    import subprocess

    db = _copy_gallery(gallery_db, tmp_path / "readonly")
    files = [str(p) for p in db.parent.iterdir()]
    if subprocess.run(["chattr", "+i", *files, str(db.parent)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (a read-only folder is simulated with it)")
    yield db
    subprocess.run(["chattr", "-i", *files, str(db.parent)], check=True)


def test_a_gallery_on_read_only_storage_is_read_and_refuses_writes_in_one_line(read_only_gallery):
    db = read_only_gallery
    before = _tree(db.parent)
    listed = cli("list", "--json", db=db)
    assert listed.exit_code == 0, listed.output
    assert sorted(p["name"] for p in json.loads(listed.stdout)["people"]) == sorted(PEOPLE)
    found = cli("identify", lfw("Abel_Pacheco", 2), "--json", db=db)
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["faces"][0]["name"] == "Abel_Pacheco"
    assert cli("index", "stats", "--json", db=db).exit_code == 0
    for args in (["enroll", "Aaron_Sorkin", lfw("Aaron_Sorkin")], ["remove", "Abel_Pacheco"]):
        result = cli(*args, db=db)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and "read-only" in lines[0], result.stderr
    assert _tree(db.parent) == before


@pytest.mark.parametrize("flag", ["mode=ro", "immutable=1"])
def test_a_read_only_uri_reads_the_gallery(gallery_db, tmp_path, flag):
    """`--db sqlite:///file:/path/g.db?mode=ro&uri=true` said "no gallery" though the gallery was there."""
    db = _copy_gallery(gallery_db, tmp_path / "copy")
    before = digests(db)
    url = f"sqlite:///file:{db}?{flag}&uri=true"
    listed = CliRunner().invoke(main, ["list", "--json", "--db", url])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["count"] == len(PEOPLE)
    assert digests(db) == before


def test_reads_never_create_or_replace_an_index_file(gallery_db, tmp_path):
    """Issue 34 item 2: a read made the index file it was pointed at (--index new.faiss), and wrote the gallery's
    own when it was missing or behind. Reads bring the index in step in memory only; the next write saves it."""
    new = tmp_path / "elsewhere" / "new.faiss"
    for read in READS.values():
        result = cli(*read, "--index", new, db=gallery_db)
        assert result.exit_code == 0, result.output
    assert not new.parent.exists()
    db = tmp_path / "g.db"
    with sqlite3.connect(gallery_db) as source, sqlite3.connect(db) as target:
        source.backup(target)
    source.close()
    target.close()
    for read in READS:  # no index file at all: each read rebuilds it in memory, and writes nothing
        result = cli(*READS[read], db=db)
        assert result.exit_code == 0, (read, result.output)
        assert not list(tmp_path.glob("g.faiss*")), read
    stats = json.loads(cli("index", "stats", "--json", db=db).stdout)
    assert stats["indexed"] == len(PEOPLE) and stats["in_step"]
    assert cli("remove", "Amber_Tamblyn", db=db).exit_code == 0  # a write saves it
    assert read_meta(db.with_suffix(".faiss")).count == len(PEOPLE) - 1
