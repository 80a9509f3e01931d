"""What a new user trips over: gallery guards, strict JSON on every command, python -m facerec."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from facerec.cli import main
from tests.conftest import ROOT, lfw


def run(*args: object, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def strict(text: str) -> object:
    """json.loads that refuses NaN and Infinity, as a strict parser would."""
    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("guards") / "g.db"
    assert run("enroll", "Abel", lfw("Abel_Pacheco", 1), "--db", db).exit_code == 0
    return db


def test_a_forgotten_name_is_refused_with_a_hint(tmp_path):
    db = tmp_path / "g.db"
    result = run("enroll", lfw("Abel_Pacheco", 1), lfw("Abel_Pacheco", 2), "--db", db)
    assert result.exit_code == 2 and "was the name forgotten" in result.output and not db.exists()


def test_read_only_commands_on_a_missing_gallery_say_so_and_create_nothing(tmp_path):
    db = tmp_path / "typo.db"
    for args in (["identify", lfw("Abel_Pacheco", 2)], ["list"], ["index", "stats"], ["remove", "X"],
                 ["rename", "X", "Y"]):
        result = run(*args, "--db", db)
        assert result.exit_code == 1 and "no gallery at" in result.output and "Traceback" not in result.output
    assert not db.exists()


def test_an_empty_gallery_is_named_as_such(tmp_path):
    db = tmp_path / "g.db"
    assert run("enroll", "Abel", lfw("Abel_Pacheco", 1), "--db", db).exit_code == 0
    assert run("remove", "Abel", "--db", db).exit_code == 0
    result = run("identify", lfw("Abel_Pacheco", 2), "--db", db)
    assert result.exit_code == 1 and "is empty" in result.output and "-inf" not in result.output


def test_commands_that_do_not_embed_need_no_weights(gallery, tmp_path):
    env = {"FACEREC_WEIGHTS_DIR": str(tmp_path / "no-weights"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "FACEREC_OFFLINE": "1"}
    assert run("list", "--db", gallery, env=env).exit_code == 0
    assert run("index", "stats", "--db", gallery, env=env).exit_code == 0
    result = run("identify", lfw("Abel_Pacheco", 2), "--db", gallery, env=env)
    assert result.exit_code == 1 and "weights for mobilefacenet:foamliu not found" in result.output
    assert "--weights" not in run("list", "--help").output and "--robust" not in run("remove", "--help").output


def test_threshold_outside_minus_one_to_one_is_refused(gallery):
    assert run("identify", lfw("Abel_Pacheco", 2), "--db", gallery, "--threshold", "1.5").exit_code == 2
    assert run("verify", lfw("Abel_Pacheco", 1), lfw("Abel_Pacheco", 2), "--threshold", "-2").exit_code == 2


def test_every_command_prints_strict_json(gallery, tmp_path):
    runs = [
        ["models", "--json"],
        ["verify", lfw("Abel_Pacheco", 1), lfw("Abel_Pacheco", 2), "--json"],
        ["enroll", "Amber", lfw("Amber_Tamblyn", 1), "--db", gallery, "--json"],
        ["identify", lfw("Abel_Pacheco", 2), "--db", gallery, "--json"],
        ["identify", lfw("Aaron_Sorkin", 1), "--db", gallery, "--json", "--threshold", "1"],
        ["list", "--db", gallery, "--json"],
        ["rename", "Amber", "Amber T", "--db", gallery, "--json"],
        ["remove", "Amber T", "--db", gallery, "--json"],
        ["index", "rebuild", "--db", gallery, "--json"],
        ["index", "stats", "--db", gallery, "--json"],
    ]
    for args in runs:
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == 0, (args, result.output)
        assert isinstance(strict(result.stdout), dict), args


def test_grammar_and_summary_line(tmp_path):
    db = tmp_path / "g.db"
    result = run("enroll", "Abel", lfw("Abel_Pacheco", 1), "--db", db)
    assert "1 new face" in result.output and "1 new faces" not in result.output
    result = run("list", "--db", db)
    assert result.stdout.endswith("Abel\n") and "1 person, 1 face" in result.output


def test_python_dash_m_facerec_and_typed_package():
    done = subprocess.run([sys.executable, "-m", "facerec", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "enroll" in done.stdout
    assert (ROOT / "facerec" / "py.typed").is_file() and (ROOT / "LICENSE").is_file()
    import facerec

    assert facerec.Gallery is not None


def test_library_warnings_do_not_reach_the_user_but_dash_w_still_rules(gallery, tmp_path):
    """A frame of 90 MP (over Pillow's bomb-warning size) in a folder given to `facerec watch`: one line,
    the refusal; Pillow's DecompressionBombWarning is not printed, unless python -W asks for warnings."""
    from PIL import Image

    frames = tmp_path / "frames"
    frames.mkdir()
    Image.new("1", (9500, 9500)).save(frames / "0001.png")  # 90 MP in 11 kB
    command = ["-m", "facerec", "watch", str(frames), "--db", str(gallery)]
    done = subprocess.run([sys.executable, *command], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1 and done.stderr.startswith("Error:") and "too large" in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "Warning" not in done.stderr, done.stderr
    loud = subprocess.run([sys.executable, "-W", "always", *command], capture_output=True, text=True, cwd=ROOT)
    assert loud.returncode == 1 and "decompression bomb" in loud.stderr, loud.stderr  # -W is obeyed


def test_facerec_warnings_show_as_one_line(capsys, monkeypatch):
    import warnings

    from enrollment.errors import GalleryWarning
    from facerec.cli import user_warnings
    from facerec.errors import FaceRecWarning

    monkeypatch.setattr(sys, "warnoptions", [])  # as when python runs without -W
    with user_warnings():
        warnings.warn("model x cannot run in int8 (no calibration); using fp32", FaceRecWarning, stacklevel=1)
        warnings.warn("invalid value encountered in divide", RuntimeWarning, stacklevel=1)  # as numpy's are
        warnings.warn(GalleryWarning("a damaged row\nskipped"), stacklevel=1)
    assert capsys.readouterr().err == ("warning: model x cannot run in int8 (no calibration); using fp32\n"
                                       "warning: a damaged row skipped\n")
