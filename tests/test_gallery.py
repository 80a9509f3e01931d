"""The face gallery on real photos, a real SQLite file and a real FAISS index."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from facerec.cli import main
from facerec.errors import ImageReadError
from facerec.gallery import Gallery
from index import VectorIndex, backend_of
from tests.backends import BACKENDS, DATABASES, database, database_face_ids, stored_ids, vectors_uri
from tests.conftest import ATT, lfw

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PAIRS = {("sqlite", "milvus"), ("postgresql", "faiss")}


@pytest.fixture()
def gallery(recognizer, tmp_path):
    g = Gallery(recognizer, db=f"sqlite:///{tmp_path / 'g.db'}")
    yield g
    g.close()


def in_step(db: Path) -> bool:
    """Database face ids and the saved index's ids agree."""
    with sqlite3.connect(db) as connection:
        db_ids = sorted(row[0] for row in connection.execute("select id from faces"))
    meta = json.loads(db.with_suffix(".faiss.json").read_text())
    index = VectorIndex.load(db.with_suffix(".faiss"), model=meta["model"], dim=meta["dim"])
    return db_ids == index.ids().tolist()


def test_one_shot_identification_and_open_set(gallery, two_faces_photo):
    for name in ("Abel_Pacheco", "Akhmed_Zakayev", "Amber_Tamblyn"):
        gallery.enroll(name, [lfw(name, 1)])
    [abel] = gallery.identify(lfw("Abel_Pacheco", 3))
    assert abel.name == "Abel_Pacheco" and abel.score >= gallery.threshold
    assert [c.name for c in abel.candidates][0] == "Abel_Pacheco" and len(abel.candidates) == 3
    [stranger] = gallery.identify(ATT / "s1" / "1.pgm")
    assert stranger.name is None and stranger.candidates  # "not recognized" is an answer
    both = gallery.identify(two_faces_photo, all_faces=True)
    assert [r.name for r in both] == ["Abel_Pacheco", "Amber_Tamblyn"]


def test_enrollment_is_all_or_nothing(gallery, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a photo")
    with pytest.raises(ImageReadError):
        gallery.enroll("Abel_Pacheco", [lfw("Abel_Pacheco", 1), bad])
    assert gallery.names() == [] and len(gallery.store.index) == 0


def test_re_enrolling_the_same_photo_is_not_a_duplicate(gallery):
    gallery.enroll("Abel_Pacheco", [lfw("Abel_Pacheco", 1)])
    again = gallery.enroll("Abel_Pacheco", [lfw("Abel_Pacheco", 1), lfw("Abel_Pacheco", 2)])
    assert again.skipped == 1 and len(again.added_ids) == 1
    assert gallery.identities()[0].faces == 2 and len(gallery.store.index) == 2


@pytest.mark.parametrize("damage", ["missing", "stale", "other-model", "garbage"])
def test_index_is_rebuilt_from_the_database(recognizer, tmp_path, damage):
    db = tmp_path / "g.db"
    g = Gallery(recognizer, db=f"sqlite:///{db}")
    g.enroll("Abel_Pacheco", [lfw("Abel_Pacheco", 1)])
    g.close()
    index_path = db.with_suffix(".faiss")
    if damage == "missing":
        index_path.unlink()
    elif damage == "stale":
        VectorIndex(128, model=recognizer.model_key).save(index_path, revision="0")
    elif damage == "other-model":
        VectorIndex(512, model="inception_resnet_v1:vggface2").save(index_path, revision="1")
    else:
        index_path.write_bytes(b"\0" * 100)
    g = Gallery(recognizer, db=f"sqlite:///{db}")
    # a stale index catches up from the change log; the others are rebuilt from the database
    assert g.store.last_sync == ("catch-up" if damage == "stale" else "rebuild")
    assert len(g.store.index) == 1 and in_step(db)
    assert g.identify(lfw("Abel_Pacheco", 2))[0].name == "Abel_Pacheco"
    g.close()


def cli(*args: str, db: Path):
    return CliRunner().invoke(main, [*map(str, args), "--db", str(db)])


def test_cli_gallery_commands(tmp_path):
    db = tmp_path / "g.db"
    assert cli("enroll", "Abel", lfw("Abel_Pacheco", 1), db=db).exit_code == 0
    assert cli("enroll", "Amber", lfw("Amber_Tamblyn", 1), db=db).exit_code == 0
    out = json.loads(cli("identify", lfw("Abel_Pacheco", 2), "--json", db=db).stdout)
    assert out["faces"][0]["name"] == "Abel" and out["faces"][0]["recognized"]
    assert "not recognized" in cli("identify", ATT / "s2" / "1.pgm", db=db).output
    assert cli("rename", "Abel", "Abel Pacheco", db=db).exit_code == 0
    listed = json.loads(cli("list", "--json", db=db).stdout)["people"]
    assert [p["name"] for p in listed] == ["Abel Pacheco", "Amber"]
    assert cli("remove", "Amber", db=db).exit_code == 0
    stats = json.loads(cli("index", "stats", "--json", db=db).stdout)
    assert stats["identities"] == 1 and stats["indexed"] == 1 and stats["in_step"]
    assert cli("index", "rebuild", db=db).exit_code == 0 and in_step(db)


# One of each database and each backend by default (about 10 s each); the whole cross product with -m slow.
@pytest.fixture(params=[pytest.param((d, b), id=f"{d}-{b}", marks=() if (d, b) in DEFAULT_PAIRS else pytest.mark.slow)
                        for d in DATABASES for b in BACKENDS])
def gallery_at(request, tmp_path):
    """A gallery's --db and --vectors on every database and vector backend."""
    db, backend = request.param
    for url in database(db, tmp_path):
        yield url, vectors_uri(backend, tmp_path)


def test_cli_enroll_identify_remove_rename_rebuild_on_every_backend(gallery_at):
    url, vectors = gallery_at

    def run(*args: object) -> str:
        result = CliRunner().invoke(main, [*map(str, args), "--db", url, "--vectors", vectors])
        assert result.exit_code == 0, result.output
        return result.output

    run("enroll", "Abel", lfw("Abel_Pacheco", 1))
    run("enroll", "Amber", lfw("Amber_Tamblyn", 1))
    out = json.loads(run("identify", lfw("Abel_Pacheco", 2), "--json"))
    assert out["faces"][0]["name"] == "Abel" and out["faces"][0]["candidates"][1]["name"] == "Amber"
    assert "not recognized" in run("identify", ATT / "s2" / "1.pgm")  # below the threshold: unknown
    run("rename", "Abel", "Abel Pacheco")
    assert json.loads(run("identify", lfw("Abel_Pacheco", 2), "--json"))["faces"][0]["name"] == "Abel Pacheco"
    run("remove", "Amber")
    assert [c["name"] for c in json.loads(run("identify", lfw("Amber_Tamblyn", 2), "--json"))["faces"][0][
        "candidates"]] == ["Abel Pacheco"]
    stats = json.loads(run("index", "rebuild", "--json"))
    assert stats["backend"] == backend_of(vectors) and stats["indexed"] == 1 and stats["in_step"]
    assert stored_ids(vectors, model=stats["model"], dim=stats["dim"]) == database_face_ids(url)


def test_cli_messages_cut_long_names_and_escape_terminal_codes(tmp_path):
    db = tmp_path / "g.db"
    assert cli("enroll", "Amber", lfw("Amber_Tamblyn", 1), db=db).exit_code == 0
    result = cli("remove", "\x1b[2J\u202e" + "N" * 10_000, db=db)  # clear the screen, right-to-left, 10,000 more
    assert result.exit_code == 1 and "NNNN" in result.output  # says which name, cut short and escaped
    assert len(result.output) < 300 and "\x1b" not in result.output and "\u202e" not in result.output, result.output
    result = cli("rename", "Amber", "\x1b[2J" + "M" * 10_000, db=db)
    assert result.exit_code == 1 and len(result.output) < 300 and "\x1b" not in result.output, result.output
    result = cli("remove", "Amber\x1f", db=db)  # a trailing control character is stripped, as whitespace is
    assert result.exit_code == 0 and result.output.startswith("removed Amber") and "\x1f" not in result.output


def test_cli_gallery_errors(tmp_path, no_face_photo):
    db = tmp_path / "g.db"
    result = cli("enroll", "Nobody", no_face_photo, db=db)
    assert result.exit_code == 1 and "no face detected" in result.output
    assert not db.exists()  # a failed first enrollment leaves no empty gallery behind
    result = cli("remove", "Nobody", db=db)
    assert result.exit_code == 1 and "no gallery at" in result.output
    assert cli("enroll", "Amber", lfw("Amber_Tamblyn", 1), db=db).exit_code == 0
    result = cli("remove", "Nobody", db=db)
    assert result.exit_code == 1 and "no identity named 'Nobody'" in result.output
    result = cli("enroll", "X", db=db)
    assert result.exit_code == 2  # usage error: no image
    assert cli("enroll", "Abel", lfw("Abel_Pacheco", 1), db=db).exit_code == 0
    before = json.loads(cli("list", "--json", db=db).stdout)
    result = CliRunner().invoke(main, ["identify", str(lfw("Abel_Pacheco", 2)), "--db", str(db),
                                       "--model", "inception_resnet_v1", "--weights", str(ROOT / "pyproject.toml")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert json.loads(cli("list", "--json", db=db).stdout) == before


def test_model_mismatch_is_refused(recognizer, tmp_path):
    from enrollment import GalleryStore, ModelMismatchError, NewFace

    store = GalleryStore(f"sqlite:///{tmp_path / 'g.db'}", model="inception_resnet_v1:vggface2", dim=512)
    store.enroll("x", [NewFace(np.ones(512, np.float32), "ab" * 32)])  # an empty gallery would just be rebound
    store.close()
    with pytest.raises(ModelMismatchError, match="inception_resnet_v1"):
        Gallery(recognizer, db=f"sqlite:///{tmp_path / 'g.db'}")


def people_tree(tmp_path: Path, people: range, bad_file: bool = False) -> Path:
    root = tmp_path / "people"
    for number in people:
        folder = root / f"s{number}"
        folder.mkdir(parents=True)
        for photo in sorted((ATT / f"s{number}").iterdir()):
            (folder / photo.name).symlink_to(photo)
    if bad_file:
        (root / f"s{people[0]}" / "broken.jpg").write_bytes(b"\xff\xd8\xff truncated")
        (root / f"s{people[0]}" / "notes.txt").write_text("x")
    return root


def test_enroll_from_dir_reports_bad_files(tmp_path, att_enrollable):
    root = people_tree(tmp_path, range(1, 4), bad_file=True)
    expected = sum(att_enrollable[f"s{n}"] for n in range(1, 4))
    result = cli("enroll", "--from-dir", root, "--json", db=tmp_path / "g.db")
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["faces_added"] == expected
    assert len(report["failed"]) == 2 + 30 - expected  # the two bad files, and photos with no face
    assert any("broken.jpg" in f["file"] and "cannot read image" in f["error"] for f in report["failed"])
    again = json.loads(cli("enroll", "--from-dir", root, "--json", db=tmp_path / "g.db").stdout)
    assert again["faces_added"] == 0 and again["already_enrolled"] == expected


def enroll_process(root: Path, db: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "facerec.cli", "enroll", "--from-dir", str(root), "--db", str(db),
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=os.environ)


def faces_per_person(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as connection:
        return dict(connection.execute(
            "select i.name, count(f.id) from identities i join faces f on f.identity_id = i.id group by i.name"))


def test_kill_9_during_enroll_from_dir_leaves_a_consistent_gallery(recognizer, tmp_path, att_enrollable):
    att_faces = att_enrollable  # enroll --from-dir skips low-quality photos
    root = people_tree(tmp_path, range(1, 16))
    db = tmp_path / "g.db"
    child = enroll_process(root, db)
    deadline = time.monotonic() + 600  # generous: machines under load are slow
    while time.monotonic() < deadline:
        try:
            if len(faces_per_person(db)) >= 3:
                break
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    enrolled = faces_per_person(db)
    assert 3 <= len(enrolled) < 15, "the kill must land in the middle of the run"
    assert all(count == att_faces[name] for name, count in enrolled.items()), "nobody is half-enrolled"
    g = Gallery(recognizer, db=f"sqlite:///{db}")  # reopening brings the index in step
    assert g.store.stats()["in_step"] and len(g.store.index) == sum(enrolled.values())
    g.close()
    assert in_step(db)
    finish = enroll_process(root, db)
    assert finish.wait(timeout=300) == 0
    assert faces_per_person(db) == att_faces and in_step(db)


def test_two_processes_enrolling_at_once_lose_nothing(recognizer, tmp_path, att_enrollable):
    att_faces = att_enrollable  # enroll --from-dir skips low-quality photos
    first = people_tree(tmp_path / "a", range(1, 6))
    second = people_tree(tmp_path / "b", range(6, 11))
    db = tmp_path / "g.db"
    processes = [enroll_process(first, db), enroll_process(second, db)]
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read().decode()[-2000:]
    expected = {f"s{n}": att_faces[f"s{n}"] for n in range(1, 11)}
    assert faces_per_person(db) == expected
    g = Gallery(recognizer, db=f"sqlite:///{db}")
    assert len(g.store.index) == sum(expected.values()) and in_step(db)
    assert g.identify(ATT / "s7" / "3.pgm")[0].candidates[0].name == "s7"
    g.close()


def test_cli_hnsw_index_kind(tmp_path):
    db = tmp_path / "g.db"
    assert cli("enroll", "Abel", lfw("Abel_Pacheco", 1), "--index-kind", "hnsw", db=db).exit_code == 0
    out = json.loads(cli("identify", lfw("Abel_Pacheco", 2), "--index-kind", "hnsw", "--json", db=db).stdout)
    assert out["faces"][0]["name"] == "Abel"
    stats = json.loads(cli("index", "stats", "--index-kind", "hnsw", "--json", db=db).stdout)
    assert stats["index_kind"] == "hnsw" and stats["in_step"]


def test_open_set_threshold_grows_with_the_gallery(tmp_path):
    from facerec.models import get_weights

    weights = get_weights("mobilefacenet")
    assert weights.impostor_tail, "mobilefacenet ships a calibrated impostor tail"
    sizes = [1, 10, 100, 1000, 10**6]
    thresholds = [weights.open_set_threshold(n) for n in sizes]
    assert thresholds == sorted(thresholds) and thresholds[0] == weights.identify_threshold
    assert thresholds[-1] == weights.impostor_tail[-1][1] > weights.identify_threshold
    assert weights.open_set_threshold(0) == weights.identify_threshold


def test_the_same_face_under_two_names_is_refused(recognizer, tmp_path):
    from facerec.errors import DuplicateFaceError

    gallery = Gallery(recognizer, db=tmp_path / "g.db")
    gallery.enroll("Abel", [lfw("Abel_Pacheco", 1)])
    with pytest.raises(DuplicateFaceError, match="matches 'Abel'") as info:
        gallery.enroll("Someone Else", [lfw("Abel_Pacheco", 1)])
    assert info.value.score > 0.99
    with pytest.raises(DuplicateFaceError):  # another photo of the same man
        gallery.enroll("Someone Else", [lfw("Abel_Pacheco", 2)])
    assert gallery.names() == ["Abel"]
    gallery.enroll("Abel", [lfw("Abel_Pacheco", 2)])  # more photos of the same person are welcome
    gallery.enroll("Amber", [lfw("Amber_Tamblyn", 1)])  # a different person is not a duplicate
    gallery.enroll("Abel twin", [lfw("Abel_Pacheco", 3)], allow_duplicate=True)
    assert gallery.names() == ["Abel", "Abel twin", "Amber"]


def test_cli_duplicates_are_refused_and_reported_from_a_folder(tmp_path):
    db = tmp_path / "g.db"
    assert cli("enroll", "Abel", lfw("Abel_Pacheco", 1), db=db).exit_code == 0
    result = cli("enroll", "Other", lfw("Abel_Pacheco", 1), db=db)
    assert result.exit_code == 1 and "matches 'Abel'" in result.output and "--allow-duplicate" in result.output
    folder = tmp_path / "people"
    for name, photo in (("Copy", lfw("Abel_Pacheco", 2)), ("Amber", lfw("Amber_Tamblyn", 1))):
        (folder / name).mkdir(parents=True)
        (folder / name / photo.name).symlink_to(photo)
    result = cli("enroll", "--from-dir", folder, "--json", db=db)
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["added"] == {"Amber": 1}
    assert [d["name"] for d in report["duplicates"]] == ["Copy"] and report["duplicates"][0]["matches"] == "Abel"
    assert cli("enroll", "Other", lfw("Abel_Pacheco", 1), "--allow-duplicate", db=db).exit_code == 0


def test_enroll_from_a_flat_folder_of_named_photos(tmp_path):
    db = tmp_path / "g.db"
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "Abel Pacheco.jpg").symlink_to(lfw("Abel_Pacheco", 1))
    (flat / "Amber.jpg").symlink_to(lfw("Amber_Tamblyn", 1))
    (flat / "readme.txt").write_text("not a person")
    result = cli("enroll", "--from-dir", flat, "--json", db=db)
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["layout"] == "files"
    assert report["added"] == {"Abel Pacheco": 1, "Amber": 1}
    found = json.loads(cli("identify", lfw("Abel_Pacheco", 2), "--json", db=db).stdout)
    assert found["faces"][0]["name"] == "Abel Pacheco"
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = cli("enroll", "--from-dir", empty, db=tmp_path / "h.db")
    assert refused.exit_code == 1 and "neither sub-folders" in refused.output


def test_a_failure_after_the_commit_is_a_warning_not_a_failed_enrollment(gallery, monkeypatch):
    """What is stored after the person's transaction (cohort statistics, calibration) is derived data: a
    failure there must not report the committed enrollment as failed (exit 1 with the person stored)."""
    from enrollment.errors import GalleryError, GalleryWarning
    from facerec.open_set import GalleryOpenSet

    def fail(*args, **kwargs):
        raise GalleryError("database is locked")

    gallery.enroll("Abel_Pacheco", [lfw("Abel_Pacheco", 1)])
    monkeypatch.setattr(GalleryOpenSet, "put_cohort_stats", fail)
    with pytest.warns(GalleryWarning, match="Akhmed_Zakayev is enrolled, but storing derived data"):
        result = gallery.enroll("Akhmed_Zakayev", [lfw("Akhmed_Zakayev", 1)])
    assert result.added_ids and sorted(gallery.names()) == ["Abel_Pacheco", "Akhmed_Zakayev"]
    monkeypatch.undo()
    [match] = gallery.identify(lfw("Akhmed_Zakayev", 3))
    assert match.name == "Akhmed_Zakayev"  # its missing statistics are computed when needed
