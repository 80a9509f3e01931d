"""`facerec embed` (resumable embeddings folder) and `facerec compare` (known vs unknown folders), on real photos."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from facerec.cli import main
from facerec.embed_files import embed_to_folder
from tests.conftest import ATT, lfw


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture()
def photos(tmp_path, two_faces_photo):
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    for n in (1, 2, 3):
        shutil.copy(ATT / "s1" / f"{n}.pgm", folder / f"s1_{n}.pgm")
    shutil.copy(lfw("Abel_Pacheco", 1), folder / "nested" / "abel.jpg")
    shutil.copy(two_faces_photo, folder / "two.jpg")
    (folder / "notes.jpg").write_text("not a photo")
    return folder


def test_embed_writes_rows_that_match_the_table(photos, tmp_path, recognizer):
    out = tmp_path / "out"
    result = run("embed", photos, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["photos"] == 6 and report["faces"] == 5 and [f["path"] for f in report["failed"]] == [
        str(photos / "notes.jpg")]
    vectors = np.load(out / "embeddings.npy")
    with (out / "faces.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert vectors.shape == (5, 128) and len(rows) == 5
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    abel = next(i for i, row in enumerate(rows) if row["path"].endswith("abel.jpg"))
    expected = recognizer.embed(photos / "nested" / "abel.jpg")[0].embedding
    assert float(vectors[abel] @ expected) > 0.999  # row i is the face of line i
    assert json.loads((out / "meta.json").read_text())["model"] == recognizer.model_key


def test_embed_all_faces_and_json_table(photos, tmp_path):
    out = tmp_path / "all"
    assert run("embed", photos / "two.jpg", "-o", out, "--all-faces", "--index-format", "json").exit_code == 0
    rows = json.loads((out / "faces.json").read_text())
    assert [row["face"] for row in rows] == [0, 1] and np.load(out / "embeddings.npy").shape == (2, 128)


def test_embed_resumes_and_refuses_other_settings(photos, tmp_path, recognizer):
    out = tmp_path / "out"
    first = embed_to_folder(recognizer, [photos / "s1_1.pgm", photos / "s1_2.pgm"], out, chunk=1, progress=False)
    assert first.faces == 2 and len(list((out / "parts").glob("*.csv"))) == 2
    again = embed_to_folder(recognizer, [photos], out, chunk=2, progress=False)
    assert again.resumed == 2 and again.faces == 5  # only the four new photos were embedded
    with (out / "faces.csv").open() as handle:
        paths = [row["path"] for row in csv.DictReader(handle)]
    assert len(paths) == len(set(paths)) == 5
    other = run("embed", photos, "-o", out, "--all-faces")
    assert other.exit_code == 1 and "other settings" in other.output
    unevened = run("embed", photos, "-o", out, "--no-even-light")
    assert unevened.exit_code == 1 and "even light: before true, now false" in unevened.output.lower()
    meta = json.loads((out / "meta.json").read_text())
    del meta["even_light"]  # a folder written before this was recorded: side light was not evened out then
    (out / "meta.json").write_text(json.dumps(meta))
    assert run("embed", photos, "-o", out, "--no-even-light").exit_code == 0
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "keep.txt").write_text("mine")
    refused = run("embed", photos, "-o", stranger)
    assert refused.exit_code == 1 and "not empty" in refused.output and (stranger / "keep.txt").read_text() == "mine"


def test_compare_names_each_unknown_photo(tmp_path):
    known, unknown = tmp_path / "known", tmp_path / "unknown"
    (known / "Abel").mkdir(parents=True)
    unknown.mkdir()
    shutil.copy(lfw("Abel_Pacheco", 1), known / "Abel" / "a.jpg")
    shutil.copy(lfw("Amber_Tamblyn", 1), known / "Amber.jpg")
    shutil.copy(lfw("Abel_Pacheco", 2), unknown / "1.jpg")
    shutil.copy(lfw("Amber_Tamblyn", 2), unknown / "2.jpg")
    shutil.copy(lfw("Aaron_Sorkin", 1), unknown / "3.jpg")
    (unknown / "4.jpg").write_bytes(b"\x00" * 10)
    result = run("compare", "--known", known, "--unknown", unknown)
    assert result.exit_code == 0, result.output
    rows = {row["path"].rsplit("/", 1)[-1]: row for row in csv.DictReader(io.StringIO(result.stdout))}
    assert rows["1.jpg"]["person"] == "Abel" and rows["2.jpg"]["person"] == "Amber"
    assert rows["3.jpg"]["person"] == "" and rows["3.jpg"]["best"] in ("Abel", "Amber")  # a stranger: nobody
    assert rows["4.jpg"]["error"] and rows["4.jpg"]["score"] == ""
    as_json = json.loads(run("compare", "--known", known, "--unknown", unknown / "1.jpg", "--json").stdout)
    assert as_json["results"][0]["person"] == "Abel" and as_json["results"][0]["score"] > 0.5


def test_compare_refuses_a_known_photo_without_a_face(tmp_path, no_face_photo):
    known = tmp_path / "known"
    known.mkdir()
    shutil.copy(no_face_photo, known / "Nobody.png")
    result = run("compare", "--known", known, "--unknown", lfw("Abel_Pacheco", 1))
    assert result.exit_code == 1 and "known photo" in result.output and "Traceback" not in result.output


def _tree(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


#: A damaged embeddings folder: what is done to it, the file the message must name, and a word of why.
DAMAGES = {
    "meta-not-json": (lambda out: (out / "meta.json").write_text("{ half a file"), "meta.json", "not JSON"),
    "meta-a-list": (lambda out: (out / "meta.json").write_text("[1, 2]"), "meta.json", "not a JSON object"),
    "part-npy": (lambda out: (out / "parts" / "000000.npy").write_bytes(b"\x93NUMPY garbage"), "000000.npy",
                 "not a saved array"),
    "part-csv-latin1": (lambda out: (out / "parts" / "000000.csv").write_bytes(
        (out / "parts" / "000000.csv").read_bytes().replace(b"s1_1", b"s1_\xe9")), "000000.csv", "not a table"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_embed_refuses_to_resume_into_a_damaged_folder_and_leaves_it_as_it_was(damage, photos, tmp_path):
    out = tmp_path / "out"
    assert run("embed", photos / "s1_1.pgm", "-o", out).exit_code == 0
    spoil, file, why = DAMAGES[damage]
    spoil(out)
    before = _tree(out)
    result = run("embed", photos, "-o", out)
    assert result.exit_code == 1 and "Traceback" not in result.output, (damage, result.output)
    line = result.stderr.strip()
    assert line.startswith("Error:") and "\n" not in line, line
    assert file in line and why in line and ("new folder" in line or "new one" in line), line
    assert _tree(out) == before  # nothing written, nothing removed


def test_embed_and_compare_on_a_folder_without_images_say_so(tmp_path):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("not a photo")
    result = run("embed", empty, "-o", tmp_path / "out")
    assert result.exit_code == 1 and f"no images found in {empty}" in result.stderr, result.output
    assert not (tmp_path / "out").exists()
    known = tmp_path / "known"
    known.mkdir()
    shutil.copy(lfw("Abel_Pacheco", 1), known / "Abel.jpg")
    result = run("compare", "--known", known, "--unknown", empty)
    assert result.exit_code == 1 and f"no images found in {empty}" in result.stderr, result.output
    assert result.stdout == ""  # not a CSV header over no rows
