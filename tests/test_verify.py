"""1:1 verification from Python and from the CLI, including every bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from facerec import FaceRecognizer
from facerec.cli import main
from facerec.errors import MultipleFacesError, NoFaceError
from tests.conftest import lfw

SAME = (lfw("Abel_Pacheco", 1), lfw("Abel_Pacheco", 4))
DIFFERENT = (lfw("Abel_Pacheco", 1), lfw("Akhmed_Zakayev", 1))


def test_same_and_different_people(recognizer):
    same = recognizer.verify(*SAME)
    different = recognizer.verify(*DIFFERENT)
    assert same.same_person and not different.same_person
    assert same.similarity > different.similarity + 0.3
    # the calibrated decision: the normalised score against the threshold that keeps FAR at 0.1%
    assert same.score_kind == "as-norm" and same.far == 0.001 and same.score >= same.threshold > different.score
    assert same.threshold == recognizer.verify_threshold(0.001)[0]
    stricter = recognizer.verify(*SAME, far=1e-6)
    assert stricter.threshold > same.threshold  # a lower false-accept rate, a higher bar


def test_embed_returns_unit_vectors(recognizer, two_faces_photo):
    [single] = recognizer.embed(SAME[0])
    assert single.embedding.shape == (128,)
    both = recognizer.embed(two_faces_photo, all_faces=True)
    assert len(both) == 2 and both[0].face.area > both[1].face.area


def test_no_face_and_several_faces(recognizer, no_face_photo, two_faces_photo):
    with pytest.raises(NoFaceError, match="digit.png"):
        recognizer.verify(no_face_photo, SAME[0])
    with pytest.raises(MultipleFacesError, match="2 faces"):
        recognizer.verify(two_faces_photo, SAME[0], require_single=True)
    result = recognizer.verify(two_faces_photo, SAME[0])  # the largest face is Abel's
    assert result.faces_a == 2 and result.same_person


def run(*args: str):
    return CliRunner().invoke(main, list(map(str, args)))


def test_cli_verify_text_and_json():
    result = run("verify", *SAME)
    assert result.exit_code == 0 and "same person" in result.output
    result = run("verify", *DIFFERENT, "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and data["same_person"] is False and data["model"] == "mobilefacenet:foamliu"
    assert data["far"] == 0.001 and data["score_kind"] == "as-norm" and data["score"] < data["threshold"]
    assert data["decision"].startswith("as-norm, calibrated on") and -1 <= data["similarity"] <= 1
    loose = json.loads(run("verify", *DIFFERENT, "--json", "--far", "0.5").stdout)
    assert loose["threshold"] < data["threshold"]
    both = run("verify", *SAME, "--far", "0.01", "--threshold", "0.3")
    assert both.exit_code == 2 and "give one" in both.output


def test_cli_threshold_override_changes_the_decision():
    data = json.loads(run("verify", *SAME, "--threshold", "0.99", "--json").stdout)
    assert data["same_person"] is False


@pytest.mark.parametrize("kind", ["truncated", "text", "missing", "noface", "several"])
def test_cli_bad_input_is_one_line_and_non_zero(kind, tmp_path, no_face_photo, two_faces_photo):
    if kind == "truncated":
        bad = tmp_path / "cut.jpg"
        bad.write_bytes(SAME[0].read_bytes()[:3000])
    elif kind == "text":
        bad = tmp_path / "readme.jpg"
        bad.write_text("hello")
    elif kind == "missing":
        bad = tmp_path / "missing.jpg"
    else:
        bad = no_face_photo if kind == "noface" else two_faces_photo
    extra = ["--require-single"] if kind == "several" else []
    result = run("verify", bad, SAME[1], *extra)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert str(bad.name) in result.output and result.output.startswith("Error:")


def test_cli_unknown_model_lists_known_ones():
    result = run("verify", *SAME, "--model", "vgg-face")
    assert result.exit_code == 1 and "known models: inception_resnet_v1, mobilefacenet" in result.output


def test_cli_models_lists_urls():
    result = run("models", "--json")
    rows = json.loads(result.stdout)["models"]
    published = {r["model"] for r in rows if r["url"]}
    assert published == {"mobilefacenet", "inception_resnet_v1"}
    assert all(r["url"].startswith("https://") for r in rows if r["url"])
    assert [r["model"] for r in rows if r["int8"]] == ["mobilefacenet"]  # the one with a calibration


def test_robust_mode_embeds_through_the_jpeg_defence(recognizer):
    from facerec.robustness.defence import get_defence

    robust = FaceRecognizer(defence=get_defence("jpeg").transform_crops)
    clean, defended = recognizer.embed(SAME[0])[0].embedding, robust.embed(SAME[0])[0].embedding
    assert 0.9 < float(clean @ defended) < 0.99999  # the crop really changed, the face did not
    result = run("verify", *SAME, "--robust", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["same_person"]


def test_cli_models_marks_the_one_default_and_where_weights_are(tmp_path, monkeypatch):
    data = json.loads(run("models", "--json").stdout)
    defaults = [r for r in data["models"] if r["default"]]
    assert [(r["model"], r["tag"]) for r in defaults] == [("mobilefacenet", "foamliu")]
    assert data["default_model"] == "mobilefacenet"
    assert defaults[0]["local"].endswith("mobilefacenet.pt")
    assert next(r for r in data["models"] if r["model"] == "inception_resnet_v1")["local"] is None
    monkeypatch.setenv("FACEREC_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "mobilefacenet.pt").write_bytes(b"not the published file")
    tampered = json.loads(run("models", "--json").stdout)
    assert next(r for r in tampered["models"] if r["default"])["local"].startswith("refused")
