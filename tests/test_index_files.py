"""The vector index writes only files of its own (issue 34): never the gallery database, never a file facerec did
not make, nothing on disk for an in-memory database, and a file in Milvus Lite's way is a clear error.

Real parts: the CLI in process (click's CliRunner), real photos, real SQLite and FAISS files.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from facerec.cli import main
from tests.conftest import TEST_HOME, lfw


def cli(*args: object, env: dict[str, str] | None = None):  # noqa: ANN201 - a click Result
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def names(db: Path) -> list[str]:
    result = cli("list", "--json", "--db", db)
    assert result.exit_code == 0, result.output
    return [person["name"] for person in json.loads(result.stdout)["people"]]


def one_line_error(result, *words: str) -> None:  # noqa: ANN001 - a click Result
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error:") and "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    for word in words:
        assert word in result.output, result.output


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    """A gallery of two people, g/g.db with g/g.faiss beside it."""
    db = tmp_path_factory.mktemp("g") / "g.db"
    for person in ("Abel_Pacheco", "Amber_Tamblyn"):
        result = cli("enroll", person, lfw(person), "--db", db)
        assert result.exit_code == 0, result.output
    return db


def dump(db: Path) -> str:
    with sqlite3.connect(db) as connection:
        text = "\n".join(connection.iterdump())
    connection.close()
    return text


# -- item 1: a database named *.faiss ----------------------------------------------------------------------------


def test_a_database_named_like_an_index_keeps_its_own_file(tmp_path):
    """`--db people.faiss`: the index was people.faiss too, and the first save replaced the database."""
    db = tmp_path / "x" / "people.faiss"
    result = cli("enroll", "Abel", lfw("Abel_Pacheco"), "--db", db)
    assert result.exit_code == 0, result.output
    assert names(db) == ["Abel"]
    assert cli("enroll", "Amber", lfw("Amber_Tamblyn"), "--db", db).exit_code == 0
    assert names(db) == ["Abel", "Amber"]
    assert (tmp_path / "x" / "people.faiss.faiss").is_file()
    stats = json.loads(cli("index", "stats", "--json", "--db", db).stdout)
    assert stats["indexed"] == 2 and stats["in_step"]


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_an_index_on_a_file_of_the_database_is_refused(gallery, suffix):
    """`list --db g/g.db --index g/g.db` replaced the SQLite gallery by a FAISS file (12 people lost)."""
    before = dump(gallery)
    for args in (("list",), ("index", "stats"), ("identify", lfw("Abel_Pacheco", 2)),
                 ("enroll", "Aaron", lfw("Aaron_Sorkin"))):
        result = cli(*args, "--db", gallery, "--index", f"{gallery}{suffix}")
        one_line_error(result, "would overwrite the gallery database")
    assert dump(gallery) == before and names(gallery) == ["Abel_Pacheco", "Amber_Tamblyn"]


# -- item 2: --index, --vectors and FACEREC_VECTORS never overwrite a file that is not an index ------------------


def precious(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("chapter 1\n" * 200)
    return path


@pytest.mark.parametrize("how", ["--index", "--vectors", "faiss://", "FACEREC_VECTORS"])
def test_a_file_that_is_not_an_index_is_never_overwritten(gallery, tmp_path, how):
    thesis = precious(tmp_path, "thesis.txt")
    before = digest(thesis)
    for args in (("index", "stats"), ("list",), ("index", "rebuild"), ("enroll", "Aaron", lfw("Aaron_Sorkin"))):
        if how == "FACEREC_VECTORS":
            result = cli(*args, "--db", gallery, env={"FACEREC_VECTORS": str(thesis)})
        else:
            option, value = ("--vectors", f"faiss://{thesis}") if how == "faiss://" else (how, thesis)
            result = cli(*args, "--db", gallery, option, value)
        one_line_error(result, "not a facerec vector index", "will not overwrite")
    assert digest(thesis) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.txt"]  # no sidecar, lock or temporary file
    assert names(gallery) == ["Abel_Pacheco", "Amber_Tamblyn"]


def test_a_sidecar_path_that_is_not_a_sidecar_is_never_overwritten(gallery, tmp_path):
    """`--index report` would write its sidecar to report.json, the user's file."""
    report = precious(tmp_path, "report.json")
    before = digest(report)
    one_line_error(cli("index", "stats", "--db", gallery, "--index", tmp_path / "report"), "not the sidecar")
    assert digest(report) == before and not (tmp_path / "report").exists()


def test_an_index_of_our_own_is_still_replaced(gallery, tmp_path):
    """A new path is made, and then, being ours, kept up to date; one written by another model is rebuilt."""
    index = tmp_path / "other.faiss"
    result = cli("index", "rebuild", "--json", "--db", gallery, "--index", index)
    assert result.exit_code == 0, result.output
    first = digest(index)
    assert cli("index", "rebuild", "--index-kind", "hnsw", "--db", gallery, "--index", index).exit_code == 0
    assert digest(index) != first
    assert cli("index", "rebuild", "--index-kind", "flat", "--db", gallery, "--index", index).exit_code == 0


# -- item 10a: an in-memory database writes nothing to disk --------------------------------------------------------


def test_an_in_memory_database_gets_an_in_memory_index(tmp_path):
    from facerec.gallery import default_vectors

    assert default_vectors("sqlite://") == default_vectors("sqlite:///:memory:") == ":memory:"
    data = TEST_HOME / "data" / "facerec"
    before = sorted(data.rglob("*")) if data.exists() else []
    result = cli("enroll", "Abel", lfw("Abel_Pacheco"), "--db", "sqlite://")
    assert result.exit_code == 0, result.output
    after = sorted(data.rglob("*")) if data.exists() else []
    assert after == before, "the enrolled embedding was left on disk"


def test_the_library_keeps_an_in_memory_gallery_in_memory(recognizer):
    from facerec.gallery import Gallery

    data = TEST_HOME / "data" / "facerec"
    before = sorted(data.rglob("*")) if data.exists() else []
    gallery = Gallery(recognizer, db="sqlite://")
    gallery.enroll("Abel", lfw("Abel_Pacheco"))
    assert gallery.identify(lfw("Abel_Pacheco", 2))[0].name == "Abel"
    assert gallery.store.index_path is None and gallery.store.stats()["vectors"] == ":memory:"
    gallery.close()
    assert (sorted(data.rglob("*")) if data.exists() else []) == before


# -- item 15: --vectors milvus:///path on a file that is not Milvus Lite's -----------------------------------------


def test_milvus_lite_on_a_file_is_a_clear_error(gallery, tmp_path):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    notes = precious(tmp_path, "notes.db")
    before = digest(notes)
    result = cli("index", "stats", "--db", gallery, "--vectors", f"milvus://{notes}")
    one_line_error(result, "is a file, not a Milvus Lite database")
    assert digest(notes) == before
    folder = tmp_path / "photos.db"  # a folder of someone's files, named like a Milvus Lite database
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"jpeg")
    result = cli("index", "stats", "--db", gallery, "--vectors", f"milvus://{folder}")
    one_line_error(result, "not a Milvus Lite database")
    assert [p.name for p in folder.iterdir()] == ["a.jpg"]
