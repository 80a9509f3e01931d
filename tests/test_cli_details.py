"""Everyday details of the CLI (issue 28): tests keep out of the user's folders, `embed` names the setting that
differs, `eval pairs` plots only when asked and on a log axis."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from facerec.cli import main
from tests.conftest import LFW, TEST_HOME, USER_FOLDERS, USER_FOLDERS_BEFORE, lfw, listing
from tests.test_evaluation import small_pairs_file


def run(*args: object):  # noqa: ANN201 - a click Result
    return CliRunner().invoke(main, [str(a) for a in args])


# -- item 4: a temporary cache and data folder for every test run ------------------------------------------------


def test_the_tests_keep_out_of_the_users_folders(recognizer):
    """Every folder facerec writes to by default resolves under this run's temporary folder; the ONNX exports
    (and their lock files) of the session's recognizer are there; the user's folders have not changed so far
    (conftest checks them again when the run ends)."""
    from platformdirs import user_cache_dir

    from facerec.gallery import default_db_url, default_index_path
    from facerec.models.weights import weights_cache_dir
    from facerec.runtime import onnx_cache_dir

    url = default_db_url()
    folders = [onnx_cache_dir(), weights_cache_dir(), Path(user_cache_dir("facerec")),
               Path(url.removeprefix("sqlite:///")), default_index_path(url)]
    for folder in folders:
        assert folder.is_relative_to(TEST_HOME), folder
        assert not any(folder.is_relative_to(user) for user in USER_FOLDERS), folder
    assert recognizer.embed(lfw("Abel_Pacheco"))  # the exports are made or in use
    assert list(onnx_cache_dir().glob("*.onnx")) and list(onnx_cache_dir().glob("*.lock"))
    for user in USER_FOLDERS:
        assert listing(user) == USER_FOLDERS_BEFORE[user], f"a test wrote into {user}"


# -- item 12: `embed` into a folder made with other settings -------------------------------------------------------


def test_embed_names_the_setting_that_differs(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(lfw("Abel_Pacheco"), photos / "abel.jpg")
    out = tmp_path / "out"
    first = run("embed", photos, "-o", out, "--json")
    assert first.exit_code == 0, first.output
    meta = (out / "meta.json").read_text()
    again = run("embed", photos, "-o", out, "--all-faces")
    assert again.exit_code == 1 and "Traceback" not in again.output
    message = again.output.strip()
    assert "--all-faces: before false, now true" in message, message
    assert len(message) < 300 and "{" not in message and "detector" not in message, message
    other = run("embed", photos, "-o", out, "--detector", "retinaface")
    assert other.exit_code == 1
    assert f"--detector: before {json.loads(meta)['detector']['name']}, now retinaface" in other.output
    assert len(other.output.strip()) < 300 and "{" not in other.output, other.output
    landmarks = run("embed", photos, "-o", out, "--landmarks", "detector")
    assert "(--landmarks: before mtcnn, now detector)" in landmarks.output, landmarks.output
    assert (out / "meta.json").read_text() == meta  # the folder is left as it was


def test_embed_names_a_detector_setting_of_another_version(tmp_path):
    """Same detector, same options, a value that differs (a folder made by another version): its path."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(lfw("Abel_Pacheco"), photos / "abel.jpg")
    out = tmp_path / "out"
    assert run("embed", photos, "-o", out, "-q").exit_code == 0
    meta = json.loads((out / "meta.json").read_text())
    inner = meta["detector"]["steps"][0][0]["inner"]
    now, inner["min_score"] = inner["min_score"], 0.25
    (out / "meta.json").write_text(json.dumps(meta))
    result = run("embed", photos, "-o", out, "-q")
    assert result.exit_code == 1
    assert f"(--detector (steps[0][0].inner.min_score): before 0.25, now {now})" in result.output, result.output


def test_embed_settings_error_in_the_library_names_settings_without_options(tmp_path, recognizer):
    from facerec.embed_files import EmbedSettingsError, embed_to_folder

    embed_to_folder(recognizer, [lfw("Abel_Pacheco")], tmp_path, progress=False)
    with pytest.raises(EmbedSettingsError) as error:
        embed_to_folder(recognizer, [lfw("Abel_Pacheco")], tmp_path, all_faces=True, progress=False)
    assert error.value.differences == [("all_faces", "false", "true")]
    assert "all faces: before false, now true" in str(error.value) and "--" not in str(error.value)


# -- item 14: `eval pairs` plots only when asked, on a log FAR axis -------------------------------------------------


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory) -> Path:
    """12 pairs of real LFW photos in 2 folds."""
    return small_pairs_file(tmp_path_factory.mktemp("pairs"), per_class=3)


def test_eval_pairs_writes_no_plot_unless_asked(pairs_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("eval", "pairs", "--pairs", pairs_file, "--root", LFW, "--no-cache", "--json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["roc_png"] is None
    assert sorted(tmp_path.iterdir()) == []  # no roc.png in the current folder
    text = run("eval", "pairs", "--pairs", pairs_file, "--root", LFW, "--no-cache", "-q")
    assert text.exit_code == 0 and "ROC curve" not in text.output and sorted(tmp_path.iterdir()) == []
    plot = tmp_path / "plots" / "lfw.png"
    asked = run("eval", "pairs", "--pairs", pairs_file, "--root", LFW, "--no-cache", "--plot", plot, "-q")
    assert asked.exit_code == 0, asked.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"ROC curve        {plot}" in asked.output
    assert sorted(tmp_path.iterdir()) == [tmp_path / "plots"] and list(plot.parent.iterdir()) == [plot]


def test_the_roc_plot_has_a_log_far_axis_down_to_one_impostor(pairs_file, recognizer):
    from facerec.evaluation.pairs import evaluate_pairs, read_pairs, roc_figure

    pairs = read_pairs(pairs_file, LFW)
    report = evaluate_pairs(recognizer, pairs)
    impostors = sum(not p.same for p in pairs)
    [axes] = roc_figure(report).axes
    assert axes.get_xscale() == "log"
    left, right = axes.get_xlim()
    assert left <= 1 / impostors < 10 * left and right == 1  # the smallest measurable FAR is in view
    [line] = axes.get_lines()
    far = np.asarray(line.get_xdata(), float)
    assert (far >= left).all() and np.isclose(far.max(), 1.0)  # every point on the axis, FAR 0 at its edge
    assert np.asarray(line.get_ydata(), float).max() == pytest.approx(1.0)


def test_embedding_many_files_shows_one_progress_bar(recognizer, tmp_path, monkeypatch, capsys):
    """eval pairs embeds in cached chunks: one bar for them all, not one a chunk."""
    from facerec.evaluation.pairs import embed_files

    monkeypatch.setenv("FACEREC_PROGRESS", "1")
    images = [lfw("Abel_Pacheco", 1), lfw("Abel_Pacheco", 2), lfw("Amber_Tamblyn", 1), lfw("Amber_Tamblyn", 2)]
    embed_files(recognizer, images, cache_dir=tmp_path, progress=True, save_every=2)
    bars = [line for line in capsys.readouterr().err.split("\n") if "embedding" in line]
    assert len(bars) == 1 and "4/4" in bars[0]
