"""Output that matches what happened (issue 38, item 3): enroll --from-dir says the open-set threshold in force,
a rename leaves `index stats` current, `models prepare` gives no hint about itself and refuses what it cannot
honour."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from facerec.cli import main
from tests.conftest import WEIGHTS, lfw


def run(*args: object):  # noqa: ANN201 - a click Result
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture()
def people(tmp_path: Path) -> Path:
    folder = tmp_path / "people"
    for person, name in (("Abel", "Abel_Pacheco"), ("Adam", "Adam_Sandler")):
        (folder / person).mkdir(parents=True)
        shutil.copy(lfw(name), folder / person / "1.jpg")
    return folder


def test_enroll_from_dir_says_the_open_set_threshold_as_plain_enroll_does(people, tmp_path):
    """Text: the summary ends with the threshold in force; --json: `open_set` filled, also on a rerun that
    adds nothing (everyone already enrolled), and equal to what plain enroll reports for the same gallery."""
    db = tmp_path / "g.db"
    first = run("enroll", "--from-dir", people, "--db", db)
    assert first.exit_code == 0, first.output
    assert re.search(r"; open-set threshold -?\d+\.\d{3} \(.*2 people", first.stdout), first.stdout
    again = run("enroll", "--from-dir", people, "--db", db, "--json")
    assert again.exit_code == 0, again.output
    answer = json.loads(again.stdout)
    assert answer["already_enrolled"] == 2 and answer["faces_added"] == 0
    assert answer["open_set"] is not None and answer["open_set"]["people"] == 2, answer
    plain = json.loads(run("enroll", "Abel", people / "Abel" / "1.jpg", "--db", db, "--json").stdout)
    assert plain["open_set"] == answer["open_set"]


def test_a_rename_leaves_the_index_and_the_open_set_current(people, tmp_path):
    """A rename changes no face: `index stats` still finds the vectors in step and the stored open-set
    calibration current, with the revision the rename made; a remove, which does change them, still says so."""
    db = tmp_path / "g.db"
    assert run("enroll", "--from-dir", people, "--db", db, "-q").exit_code == 0
    renamed = run("rename", "Adam", "Adam S", "--db", db)
    assert renamed.exit_code == 0, renamed.output
    stats = json.loads(run("index", "stats", "--db", db, "--json").stdout)
    assert stats["in_step"] and stats["open_set_current"], stats
    listed = run("identify", lfw("Adam_Sandler", 2), "--db", db, "--json")
    assert json.loads(listed.stdout)["open_set"]["revision"] == stats["revision"], listed.output
    assert run("remove", "Abel", "--db", db).exit_code == 0
    assert not json.loads(run("index", "stats", "--db", db, "--json").stdout)["open_set_current"]


def test_models_prepare_gives_no_hint_about_itself(monkeypatch, tmp_path):
    """The note on an export that `models prepare` makes does not suggest running `models prepare` (weights
    without their ONNX files, and an empty cache: the embedder is exported from torch here)."""
    weights = tmp_path / "weights"
    weights.mkdir()
    for folder in ("mobilefacenet", "retinaface", "yunet"):
        (weights / folder).symlink_to(WEIGHTS / folder, target_is_directory=True)
    monkeypatch.setenv("FACEREC_WEIGHTS_DIR", str(weights))
    monkeypatch.setenv("FACEREC_CACHE_DIR", str(tmp_path / "cache"))
    prepared = run("models", "prepare", "--face-crop")
    assert prepared.exit_code == 0, prepared.output
    assert "note: exported mobilefacenet" in prepared.stderr, prepared.stderr  # made here, and said
    assert "models prepare` does it ahead of time" not in prepared.stderr, prepared.stderr


def test_models_prepare_honours_the_model_options_or_refuses_them(tmp_path):
    """--model, --tag and --weights choose what is prepared (an unknown one is an error naming it); --no-flip,
    which changes how faces are embedded at run time and nothing that is prepared, is refused, not ignored."""
    unknown = run("models", "prepare", "--model", "nosuchmodel", "--face-crop")
    assert unknown.exit_code != 0 and "nosuchmodel" in unknown.stderr, unknown.output
    tag = run("models", "prepare", "--tag", "nosuchtag", "--face-crop")
    assert tag.exit_code != 0 and "nosuchtag" in tag.stderr, tag.output
    weights = run("models", "prepare", "--weights", tmp_path / "missing.pt", "--face-crop")
    assert weights.exit_code != 0 and "missing.pt" in weights.stderr, weights.output
    ready = json.loads(run("models", "prepare", "--face-crop", "--json").stdout)
    assert ready["model"].startswith("mobilefacenet") and ready["detector"] == "face-crop"
    flip = run("models", "prepare", "--no-flip", "--face-crop")
    assert flip.exit_code == 2 and "--no-flip" in flip.stderr, flip.output
