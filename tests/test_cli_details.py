"""Everyday details of the CLI (issue 28): tests keep out of the user's folders, `embed` names the setting that
differs, `eval pairs` plots only when asked and on a log axis."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Iterator

import click
import numpy as np
import pytest
from click.testing import CliRunner

from facerec.cli import main
from tests.conftest import LFW, ROOT, TEST_HOME, USER_FOLDERS, USER_FOLDERS_BEFORE, lfw, listing
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


# -- issue 38: every page a help text points at exists -------------------------------------------------------------


def every_help(group: click.Group, ctx: click.Context) -> Iterator[tuple[str, str]]:
    """``(command path, --help text)`` of ``group`` and of every command under it."""
    yield ctx.command_path, group.get_help(ctx)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        sub = click.Context(command, info_name=name, parent=ctx)
        if isinstance(command, click.Group):
            yield from every_help(command, sub)
        else:
            yield sub.command_path, command.get_help(sub)


def headings(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings, as MkDocs and GitHub make them."""
    return {re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
            for line in path.read_text().splitlines() if line.startswith("#")}


def test_every_docs_page_a_help_text_names_exists():
    """A help text that sends the reader somewhere names a page of docs/ that exists (and a heading of it,
    where it names one), or a README section that exists; a bare "see the README" points nowhere."""
    pages: list[tuple[str, str]] = []
    for command, text in every_help(main, click.Context(main, info_name="facerec")):
        text = " ".join(text.split())  # help is wrapped: a reference may span two lines
        for page, anchor in re.findall(r"\b(docs/[\w/.-]+?\.md)(?:#([\w-]+))?", text):
            pages.append((command, page))
            assert (ROOT / page).is_file(), f"`{command} --help` names {page}, which does not exist"
            assert not anchor or anchor in headings(ROOT / page), f"`{command} --help`: no #{anchor} in {page}"
        for section in re.findall(r"\bthe README\b(?:'s \"([^\"]+)\")?", text):
            assert section, f"`{command} --help` says 'the README' without naming a section"
            assert section.lower().replace(" ", "-") in headings(ROOT / "README.md"), (command, section)
    assert {page for _, page in pages} >= {"docs/concepts/detectors.md", "docs/guides/adversarial.md"}, pages


# -- issue 38: identify several photos and folders at once --------------------------------------------------------


@pytest.fixture(scope="module")
def abel_gallery(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("identify-many") / "g.db"
    assert run("enroll", "Abel", lfw("Abel_Pacheco"), "--db", db, "-q").exit_code == 0
    return db


def mixed_inputs(tmp_path: Path, no_face_photo: Path) -> list[Path]:
    """A folder (two real photos of Abel in a sub-folder, a file that is not an image, a photo with no face),
    a real photo of someone else given by its path, and a path that does not exist."""
    folder = tmp_path / "photos"
    (folder / "abel").mkdir(parents=True)
    for number in (2, 3):
        shutil.copy(lfw("Abel_Pacheco", number), folder / "abel" / f"abel_{number}.jpg")
    (folder / "broken.jpg").write_bytes(b"not an image at all")
    shutil.copy(no_face_photo, folder / "nobody.png")
    (folder / "notes.txt").write_text("not a photo, and not named like one: not read")
    return [folder, lfw("Adam_Sandler"), tmp_path / "missing.jpg"]


def test_identify_answers_each_photo_and_skips_the_bad_ones(abel_gallery, tmp_path, no_face_photo):
    """Several paths and a folder: one answer block per photo, each bad file reported and skipped, exit 1."""
    result = run("identify", *mixed_inputs(tmp_path, no_face_photo), "--db", abel_gallery)
    assert result.exit_code == 1, result.output
    blocks = re.split(r"^(\S.*):$", result.stdout, flags=re.M)[1:]
    answers = {Path(name).name: text for name, text in zip(blocks[::2], blocks[1::2])}
    assert list(answers) == ["abel_2.jpg", "abel_3.jpg", "Adam_Sandler_0001.jpg"], result.stdout
    assert all(re.search(r"^  face 1 \[.*\]: Abel \(", answers[f"abel_{n}.jpg"], re.M) for n in (2, 3)), answers
    assert "Abel (" not in answers["Adam_Sandler_0001.jpg"] and "not recognized" in answers["Adam_Sandler_0001.jpg"]
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert [line.split(":")[0].rsplit("/", 1)[-1] for line in skipped] == ["broken.jpg", "nobody.png",
                                                                            "missing.jpg"], result.stderr
    assert result.stderr.splitlines()[-1] == "Error: 3 photos of 6 could not be identified", result.stderr
    assert "exit code is 1 if any" in " ".join(run("identify", "--help").stdout.split())


def test_identify_json_is_one_line_per_photo(abel_gallery, tmp_path, no_face_photo):
    """With --json, one strict JSON line per photo in order: the answer, or the documented error shape."""
    from tests.test_json_output import documented_error, has_documented_shape, strict

    result = run("identify", *mixed_inputs(tmp_path, no_face_photo), "--db", abel_gallery, "--json")
    assert result.exit_code == 1, result.output
    lines = [strict(line) for line in result.stdout.splitlines()]
    assert [Path(line["image"]).name for line in lines] == ["abel_2.jpg", "abel_3.jpg", "broken.jpg",
                                                            "nobody.png", "Adam_Sandler_0001.jpg", "missing.jpg"]
    assert [line["faces"][0]["name"] for line in lines if "faces" in line] == ["Abel", "Abel", None]
    failed = {Path(line.pop("image")).name: line for line in lines if "error" in line}
    assert all(has_documented_shape(error, documented_error()) for error in failed.values()), failed
    assert [error["error"] for error in failed.values()] == ["ImageReadError", "NoFaceError", "ImageReadError"]
    assert has_documented_shape(strict(result.stderr), documented_error()), result.stderr


def test_identify_one_photo_answers_as_before(abel_gallery, tmp_path):
    """One photo: no heading, as before; no photo at all is a usage error; a folder without photos is said."""
    result = run("identify", lfw("Abel_Pacheco", 4), "--db", abel_gallery)
    assert result.exit_code == 0 and result.stdout.startswith("face 1 ["), result.output
    assert run("identify", "--db", abel_gallery).exit_code == 2  # at least one photo
    (tmp_path / "empty").mkdir()
    empty = run("identify", tmp_path / "empty", "--db", abel_gallery)
    assert empty.exit_code == 1 and "has no image files" in empty.stderr and empty.stdout == "", empty.output


# -- issue 38: output that matches what happened -------------------------------------------------------------------


def test_a_new_gallery_is_announced_before_the_summary(tmp_path):
    """enroll --from-dir into a new gallery: "created a new gallery" first, then what was read and enrolled."""
    people = tmp_path / "people"
    (people / "Abel").mkdir(parents=True)
    shutil.copy(lfw("Abel_Pacheco"), people / "Abel" / "1.jpg")
    result = run("enroll", "--from-dir", people, "--db", tmp_path / "g.db", "-q")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if not line.startswith(("note: ", "warning: "))]
    assert lines[0] == f"created a new gallery at {tmp_path / 'g.db'}", result.stderr
    assert lines[1:] == ["read one sub-folder per person"], result.stderr
    assert result.stdout.startswith("enrolled 1 face of 1 person; 0 already enrolled; 0 files skipped")


def test_compare_csv_gives_the_cosine_beside_the_decision_score(tmp_path):
    """`score` is what the threshold applies to (cohort-normalised by default); `cosine` is the cosine, as
    --json's raw_score; --threshold is described as the cosine threshold it is."""
    import csv
    import io

    known, unknown = tmp_path / "known", tmp_path / "unknown"
    (known / "Abel").mkdir(parents=True)
    unknown.mkdir()
    shutil.copy(lfw("Abel_Pacheco", 1), known / "Abel" / "a.jpg")
    shutil.copy(lfw("Adam_Sandler", 1), known / "Adam.jpg")
    shutil.copy(lfw("Abel_Pacheco", 2), unknown / "1.jpg")
    result = run("compare", "--known", known, "--unknown", unknown)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["path", "person", "score", "best", "threshold", "error", "cosine"]
    as_json = json.loads(run("compare", "--known", known, "--unknown", unknown, "--json").stdout)["results"][0]
    assert float(rows[0]["cosine"]) == pytest.approx(as_json["raw_score"], abs=1e-4)
    assert float(rows[0]["score"]) == pytest.approx(as_json["score"], abs=1e-4)
    assert as_json["score_kind"] != "cosine" and abs(as_json["score"] - as_json["raw_score"]) > 1e-3
    fixed = list(csv.DictReader(io.StringIO(run("compare", "--known", known, "--unknown", unknown,
                                                "--threshold", "0.3").stdout)))
    assert fixed[0]["score"] == fixed[0]["cosine"] and fixed[0]["person"] == "Abel"
    assert "cosine threshold" in " ".join(run("compare", "--help").stdout.split())


def test_the_audit_log_counts_one_face_in_the_singular(recognizer, tmp_path):
    pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")
    from tests.serve_helpers import running_server

    photo = ("a.jpg", lfw("Abel_Pacheco").read_bytes(), "image/jpeg")
    with running_server(recognizer, tmp_path, rate_per_key=0) as server, server.client("admin") as client:
        assert client.post("/v1/people", data={"name": "Abel"}, files=[("images", photo)]).status_code == 201
        outcomes = [line["outcome"] for line in client.get("/v1/audit").json()["audit"] if line["action"] == "enroll"]
    assert outcomes == ["1 face added"]
