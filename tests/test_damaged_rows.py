"""Damaged or edited gallery rows: a stored decision is checked against what it is derived from, a damaged row
is reported and worked around (recomputed, or its face skipped), and the rest of the gallery stays usable.

The galleries are real (AT&T photos, real SQLite, real FAISS); the damage is done with plain SQL, as anyone who
can write the database file could.
"""

from __future__ import annotations

import json
import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from enrollment.errors import GalleryWarning
from facerec.cli import main
from facerec.errors import FaceRecError
from facerec.gallery import Gallery
from facerec.open_set import OpenSetError
from tests.conftest import ATT

STRANGER = ATT / "s3" / "1.pgm"  # enrolled in none of these galleries


def _gallery(recognizer, db: Path, people: tuple[str, ...] = ("s1", "s2")) -> float:
    """Enroll ``people`` (one photo each) into a new gallery; its open-set threshold."""
    gallery = Gallery(recognizer, db=db)
    for person in people:
        gallery.enroll(person, [ATT / person / "1.pgm"])
    threshold = gallery.threshold
    assert gallery.identify(STRANGER)[0].name is None
    gallery.close()
    return threshold


def _sql(db: Path, statement: str) -> None:
    with sqlite3.connect(db) as connection:
        connection.execute(statement)
    connection.close()


def _cli(*args: str):  # noqa: ANN202 - a click Result
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("edit", [
    "json_set(value, '$.threshold', -100.0)",
    "json_set(value, '$.threshold', -100.0, '$.model_threshold', -100.0, '$.low_quality_threshold', -100.0)",
    "json_set(value, '$.homogeneity', -50.0)",
    "json_set(value, '$.threshold', 'low')",
])
def test_an_edited_open_set_calibration_is_recomputed_not_trusted(recognizer, tmp_path, edit):
    db = tmp_path / "g.db"
    threshold = _gallery(recognizer, db)
    _sql(db, f"update gallery_settings set value = {edit} where name = 'open_set'")
    gallery = Gallery(recognizer, db=db)
    with pytest.warns(GalleryWarning, match="open-set calibration"):
        result = gallery.identify(STRANGER)[0]
    assert result.name is None and result.threshold == threshold  # the stranger is not named: -100 is not used
    assert gallery.calibration().note is not None
    gallery.close()
    shown = _cli("index", "stats", "--db", str(db), "--json")
    assert shown.exit_code == 0, shown.output
    stats = json.loads(shown.stdout)
    assert stats["open_set"]["threshold"] == threshold and not stats["open_set_current"]
    assert "open-set calibration" in stats["open_set"]["note"]
    text = _cli("index", "stats", "--db", str(db))
    assert f"threshold {threshold:.3f}" in text.stdout and "recomputed" in text.stdout, text.output


def test_a_calibration_that_agrees_is_used_as_stored(recognizer, tmp_path):
    db = tmp_path / "g.db"
    threshold = _gallery(recognizer, db)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GalleryWarning)
        gallery = Gallery(recognizer, db=db)
        assert gallery.threshold == threshold and gallery.calibration().note is None
    gallery.close()
    stats = json.loads(_cli("index", "stats", "--db", str(db), "--json").stdout)
    assert stats["open_set_current"] and "note" not in stats["open_set"] and stats["open_set"]["threshold"] == threshold


def test_a_damaged_open_set_row_is_recomputed_and_every_command_still_works(recognizer, tmp_path):
    db = tmp_path / "g.db"
    threshold = _gallery(recognizer, db)
    _sql(db, "update gallery_settings set value = '{oops' where name = 'open_set'")
    listed = _cli("list", "--db", str(db))
    assert listed.exit_code == 0 and "s1" in listed.stdout, listed.output
    shown = _cli("index", "stats", "--db", str(db))
    assert shown.exit_code == 0 and f"threshold {threshold:.3f}" in shown.stdout, shown.output
    assert "'open_set'" in shown.output and "Traceback" not in shown.output
    gallery = Gallery(recognizer, db=db)
    with pytest.warns(GalleryWarning, match="open_set"):
        assert gallery.identify(STRANGER)[0].name is None
    assert gallery.threshold == threshold
    gallery.enroll("s4", [ATT / "s4" / "1.pgm"])  # a change stores a good calibration over the damaged row
    gallery.close()
    assert json.loads(_cli("index", "stats", "--db", str(db), "--json").stdout)["open_set_current"]


def test_a_damaged_embedding_is_skipped_with_a_warning_naming_its_face(recognizer, tmp_path):
    db = tmp_path / "g.db"
    _gallery(recognizer, db, ("s1", "s2", "s4"))
    _sql(db, "update faces set embedding = x'00' where id = 1")
    (tmp_path / "g.faiss").unlink()  # the index is rebuilt from the database: the damaged row is read
    for args in (["list"], ["index", "stats"], ["index", "rebuild"]):
        result = _cli(*args, "--db", str(db))
        assert result.exit_code == 0, (args, result.output)
        assert "warning: face 1" in result.stderr and "Traceback" not in result.output, (args, result.output)
    gallery = Gallery(recognizer, db=db)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GalleryWarning)
        assert gallery.identify(ATT / "s2" / "2.pgm")[0].name == "s2"  # the rest of the gallery answers
        assert gallery.identify(STRANGER)[0].name is None
    assert gallery.names() == ["s1", "s2", "s4"]  # the damaged face's row is kept, never deleted
    gallery.close()


@pytest.mark.parametrize("sd", ["'nan'", "0", "-1"])
def test_damaged_cohort_statistics_are_recomputed_and_no_numpy_warning_leaks(recognizer, tmp_path, sd):
    db = tmp_path / "g.db"
    _gallery(recognizer, db)
    _sql(db, f"update face_cohort_stats set sd = {sd} where face_id = 1")
    gallery = Gallery(recognizer, db=db)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = gallery.identify(STRANGER)[0]
    assert result.name is None and np.isfinite(result.score)  # sd 0 made the score inf: everyone matched
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    assert any("face 1" in str(w.message) for w in caught if issubclass(w.category, GalleryWarning))
    gallery.close()
    shown = _cli("identify", str(STRANGER), "--db", str(db))
    assert shown.exit_code == 0 and "not recognized" in shown.stdout, shown.output
    assert "RuntimeWarning" not in shown.output and "warning: face 1" in shown.stderr, shown.output
    gallery = Gallery(recognizer, db=db)
    with pytest.warns(GalleryWarning, match="face 1"):
        gallery.identify(STRANGER)
    gallery.enroll("s4", [ATT / "s4" / "1.pgm"])  # the next change stores them again
    gallery.close()
    with sqlite3.connect(db) as connection:
        [(repaired,)] = connection.execute("select sd from face_cohort_stats where face_id = 1").fetchall()
    connection.close()
    assert isinstance(repaired, float) and 1e-4 <= repaired < 1


def test_index_stats_reports_the_decision_identify_makes_without_the_cohort(recognizer, tmp_path, monkeypatch):
    db = tmp_path / "g.db"
    _gallery(recognizer, db)  # calibrated with the cohort: normalised scores
    # here the model's calibration is the user's own, made in another embedding space: not used, and said so
    from facerec.cohort import calibration_files, forget_loaded

    monkeypatch.setenv("FACEREC_MODELS_DIR", str(tmp_path / "models"))
    own, shipped = calibration_files(recognizer.weights)
    own.parent.mkdir(parents=True)
    record = json.loads(shipped.read_text())
    record["space"]["precision"] = "fp32" if record["space"]["precision"] != "fp32" else "int8"
    own.write_text(json.dumps(record))
    forget_loaded()
    gallery = Gallery(recognizer, db=db)
    assert gallery.cohort is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GalleryWarning)
        result = gallery.identify(STRANGER)[0]
    assert result.score_kind == "cosine"
    gallery.close()
    stats = json.loads(_cli("index", "stats", "--db", str(db), "--json").stdout)["open_set"]
    assert stats["score"] == "cosine" and stats["threshold"] == pytest.approx(result.threshold)
    assert "calibration is not usable here" in stats["note"]
    forget_loaded()


@pytest.mark.parametrize("fpir", [-1, 0, 1, 5, float("nan"), float("inf"), "0.01", True, None])
def test_an_fpir_out_of_range_is_refused_clearly(recognizer, tmp_path, fpir):
    with pytest.raises(OpenSetError, match="fpir must be a number strictly between 0 and 1"):
        Gallery(recognizer, db=tmp_path / "g.db", fpir=fpir)
    assert issubclass(OpenSetError, FaceRecError) and issubclass(OpenSetError, ValueError)
    assert not (tmp_path / "g.db").exists()


def test_the_service_stats_show_the_calibration_identification_uses(recognizer, tmp_path):
    """/v1/stats shows the checked (or recomputed) open-set calibration, never an edited row as it is stored."""
    from tests.serve_helpers import running_server

    with running_server(recognizer, tmp_path) as server:
        for person in ("s1", "s2"):
            server.gallery.enroll(person, [ATT / person / "1.pgm"])
        _sql(server.db, "update gallery_settings set value = json_set(value, '$.threshold', -100.0) "
                        "where name = 'open_set'")
        with server.client("read") as client, warnings.catch_warnings():
            warnings.simplefilter("ignore", GalleryWarning)
            stats = client.get("/v1/stats").json()
    assert stats["open_set"]["threshold"] == pytest.approx(stats["threshold"]) and stats["threshold"] > 0
    assert stats["open_set_current"] is False
