"""A model we did not export (issue 35 items 3 and 4): foamliu's own ONNX file of MobileFaceNet (another graph,
batch 1, normalisation outside) is added from a spec written from its README, and runs the whole cycle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from click.testing import CliRunner

from facerec import FaceRecognizer
from facerec.cli import main
from facerec.errors import UnknownModelError, WeightsHashError
from facerec.models.embedders import list_models, model_file
from facerec.models.embedders.custom import EmbedderSpec, ModelSpecError, add_model, custom_model_path
from tests.conftest import LFW, WEIGHTS, lfw

FOAMLIU_ONNX = WEIGHTS / "mobilefacenet" / "MobileFaceNet.onnx"
#: What foamliu's README says: 112x112 RGB, ArcFace alignment, ImageNet mean/std; 128-d. The threshold is the
#: default model's (the same weights).
SPEC = {"input_size": 112, "colour": "rgb", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
        "template": "arcface", "threshold": 0.278, "license": "Apache-2.0",
        "sha256": "b7120c095d60094f28a4a54ba6a8bf51b297a6273fb40ef6350dfec1f63d9507"}
NAME = "foamliu-onnx"
FAST = ["--detector", "yunet", "--landmarks", "detector"]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("models")
    patch = pytest.MonkeyPatch()
    patch.setenv("FACEREC_MODELS_DIR", str(folder))
    spec = tmp_path_factory.mktemp("spec") / "spec.json"
    spec.write_text(json.dumps(SPEC))
    result = CliRunner().invoke(main, ["models", "add", NAME, str(FOAMLIU_ONNX), "--spec", str(spec)])
    assert result.exit_code == 0, result.output
    assert "added foamliu-onnx:b7120c095d60" in result.stdout
    yield folder
    patch.undo()


def run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def test_an_added_model_is_a_file_and_a_spec_in_the_model_folder(models_dir):
    assert (models_dir / NAME / "model.onnx").read_bytes() == FOAMLIU_ONNX.read_bytes()
    stored = json.loads((models_dir / NAME / "spec.json").read_text())
    assert stored["embedding_size"] == 128 and stored["sha256"] == SPEC["sha256"]
    assert NAME in list_models()
    listed = json.loads(run(["models", "--json"])[1])["models"]
    row = next(r for r in listed if r["model"] == NAME)
    assert row["local"] == str(custom_model_path(NAME)) and row["threshold"] == 0.278


def test_verify_with_the_added_model_gives_the_default_models_answers(models_dir):
    """The same weights in another graph: scores as the default pipeline's fp32 ones (the batch-1 file runs in
    chunks; the normalisation is done outside it)."""
    ours = FaceRecognizer(precision="fp32", detector="yunet", landmarks="detector")
    theirs = FaceRecognizer(NAME, detector="yunet", landmarks="detector")
    assert theirs.model_key == f"{NAME}:{SPEC['sha256'][:12]}" and theirs.precision == "fp32"
    for a, b in ((lfw("Abel_Pacheco", 1), lfw("Abel_Pacheco", 2)), (lfw("Abel_Pacheco"), lfw("Amber_Tamblyn"))):
        assert theirs.verify(a, b).similarity == pytest.approx(ours.verify(a, b).similarity, abs=1e-4)
    code, out, _ = run(["verify", str(lfw("Abel_Pacheco", 1)), str(lfw("Abel_Pacheco", 2)), "--model", NAME,
                        "--json", *FAST])
    assert code == 0 and json.loads(out)["same_person"] is True and json.loads(out)["model"].startswith(NAME)
    code, out, _ = run(["verify", str(lfw("Abel_Pacheco")), str(lfw("Amber_Tamblyn")), "--model", NAME, "--json",
                        *FAST])
    assert code == 0 and json.loads(out)["same_person"] is False


def test_enroll_and_identify_with_the_added_model_and_galleries_refuse_the_other_models_faces(models_dir, tmp_path):
    theirs, ours = tmp_path / "theirs.db", tmp_path / "ours.db"
    for name, photo in (("Abel", lfw("Abel_Pacheco", 1)), ("Amber", lfw("Amber_Tamblyn", 1))):
        code, _, err = run(["enroll", name, str(photo), "--db", str(theirs), "--model", NAME, *FAST])
        assert code == 0, err
    code, out, err = run(["identify", str(lfw("Abel_Pacheco", 2)), "--db", str(theirs), "--model", NAME, "--json",
                          *FAST])
    assert code == 0, err
    face = json.loads(out)["faces"][0]
    assert face["name"] == "Abel" and face["recognized"] is True
    code, _, err = run(["enroll", "Abel", str(lfw("Abel_Pacheco", 1)), "--db", str(ours), *FAST])
    assert code == 0, err
    before = [run(["list", "--db", str(db), "--json"])[1] for db in (theirs, ours)]
    for db, model in ((theirs, []), (ours, ["--model", NAME])):  # a probe of the other embedding space
        code, out, err = run(["identify", str(lfw("Abel_Pacheco", 2)), "--db", str(db), *model, *FAST])
        assert code != 0 and out == "" and err.count("\n") == 1, err
        assert "mobilefacenet:foamliu" in err and NAME in err
        code, _, err = run(["enroll", "Someone", str(lfw("Amber_Tamblyn", 2)), "--db", str(db), *model, *FAST])
        assert code != 0 and err.count("\n") == 1
    assert [run(["list", "--db", str(db), "--json"])[1] for db in (theirs, ours)] == before


def test_an_added_file_changed_afterwards_is_refused(models_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEREC_MODELS_DIR", str(tmp_path))
    add_model("copy", FOAMLIU_ONNX, EmbedderSpec.from_dict({k: v for k, v in SPEC.items() if k != "sha256"}))
    damaged = bytearray(custom_model_path("copy").read_bytes())
    damaged[-100] ^= 0xFF
    custom_model_path("copy").write_bytes(bytes(damaged))
    with pytest.raises(WeightsHashError, match="not the file added as model 'copy'"):
        model_file("copy")


@pytest.mark.parametrize(("args", "word"), [
    (["mobilefacenet", str(FOAMLIU_ONNX)], "built-in model"),
    (["Bad Name", str(FOAMLIU_ONNX)], "model name"),
    (["x", str(FOAMLIU_ONNX), "--input-size", "160"], "not the spec's input_size 160"),
    (["x", str(FOAMLIU_ONNX), "--mean", "0.5,0.5"], "mean must be three numbers"),
    (["x", str(FOAMLIU_ONNX), "--std", "a,b,c"], "std must be three numbers"),
    (["x", str(FOAMLIU_ONNX), "--threshold", "3"], "threshold must be a cosine similarity"),
    (["x", str(FOAMLIU_ONNX), "--sha256", "0" * 64], "does not have the sha256"),
    (["x", str(WEIGHTS / "mobilefacenet" / "mobilefacenet.pt")], "not an ONNX model"),
    (["x", str(WEIGHTS / "yunet" / "yunet_n_dynamic.onnx")], "does not run on 112x112 faces"),
    (["x", str(WEIGHTS / "onnx" / "retinaface-mnet025-opset17.onnx")], "one vector per face"),
])
def test_a_model_that_cannot_be_added_is_one_clear_line_and_adds_nothing(args, word, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEREC_MODELS_DIR", str(tmp_path / "models"))
    code, out, err = run(["models", "add", *args])
    assert code != 0 and out == "" and err.count("\n") == 1 and word in err, err
    assert not list((tmp_path / "models").glob("*/spec.json"))


def test_an_unknown_model_lists_the_added_ones(models_dir):
    with pytest.raises(UnknownModelError, match=NAME):
        model_file("no-such-model")
    code, _, err = run(["verify", str(lfw("Abel_Pacheco")), str(lfw("Amber_Tamblyn")), "--model", "nope"])
    assert code != 0 and NAME in err


def test_a_spec_field_that_is_not_known_is_refused():
    with pytest.raises(ModelSpecError, match="unknown spec field 'colour_order'"):
        EmbedderSpec.from_dict({"colour_order": "rgb"})
    assert np.allclose(EmbedderSpec(input_size=128).alignment().template[0], (38.2946 * 128 / 112, 51.6963 * 128 / 112))


# -- --model NAME in the other commands that choose a model (issue 35) -------------------------------------------


@pytest.fixture(scope="module")
def their_gallery(models_dir, tmp_path_factory) -> Path:
    """A gallery enrolled with the added model: a command that ignored ``--model`` is refused by it."""
    db = tmp_path_factory.mktemp("theirs") / "gallery.db"
    code, _, err = run(["enroll", "Abel", str(lfw("Abel_Pacheco", 1)), "--db", str(db), "--model", NAME, *FAST])
    assert code == 0, err
    return db


def test_embed_and_compare_with_the_added_model(models_dir, tmp_path):
    theirs = FaceRecognizer(NAME, detector="yunet", landmarks="detector")
    photos = [lfw("Abel_Pacheco", 1), lfw("Amber_Tamblyn", 1)]
    code, _, err = run(["embed", *map(str, photos), "-o", str(tmp_path / "out"), "--model", NAME, "--json", *FAST])
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["model"] == theirs.model_key
    rows = np.load(tmp_path / "out" / "embeddings.npy")
    expected = np.stack([theirs.embed(photo)[0].embedding for photo in photos])
    assert rows.shape == expected.shape and np.allclose(rows, expected, atol=1e-5)

    for name, photo in (("Abel", photos[0]), ("Amber", photos[1])):
        (tmp_path / "known" / name).mkdir(parents=True)
        (tmp_path / "known" / name / photo.name).write_bytes(photo.read_bytes())
    probe = lfw("Abel_Pacheco", 2)
    code, out, err = run(["compare", "--known", str(tmp_path / "known"), "--unknown", str(probe), "--model", NAME,
                          "--json", *FAST])
    assert code == 0, err
    answer = json.loads(out)
    [row] = answer["results"]
    assert answer["model"] == theirs.model_key and row["person"] == "Abel"
    assert row["raw_score"] == pytest.approx(float(theirs.embed(probe)[0].embedding @ expected[0]), abs=1e-5)


def test_watch_with_the_added_model(their_gallery, tmp_path):
    pytest.importorskip("trackers", reason="video needs the tracker: pip install 'facerec[video]'")
    for n in range(3):  # a clip as a folder of frames: one face, the same photo in each
        (tmp_path / f"{n}.jpg").write_bytes(lfw("Abel_Pacheco", 2).read_bytes())
    code, out, err = run(["watch", str(tmp_path), "--db", str(their_gallery), "--model", NAME, "--json", *FAST])
    assert code == 0, err
    [track] = [json.loads(line) for line in out.splitlines()]
    assert track["name"] == "Abel" and track["frames"] == 3


def test_serve_with_the_added_model(their_gallery, monkeypatch):
    pytest.importorskip("fastapi", reason="serve needs the serve extra")
    import uvicorn
    from fastapi.testclient import TestClient

    from enrollment import AccessStore

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.setdefault("app", app))  # no server loop
    code, _, err = run(["serve", "--db", str(their_gallery), "--model", NAME, *FAST])
    assert code == 0 and "app" in served, err
    access = AccessStore(f"sqlite:///{their_gallery}")
    key = access.create_key("read", label="test")[1]
    access.close()
    with TestClient(served["app"]) as client:
        models = client.get("/v1/models", headers={"X-API-Key": key})
        with lfw("Abel_Pacheco", 2).open("rb") as photo:
            answer = client.post("/v1/identify", files={"image": photo}, headers={"X-API-Key": key})
    assert models.status_code == 200 and models.json()["model"].startswith(f"{NAME}:")
    assert answer.status_code == 200, answer.text
    assert answer.json()["faces"][0]["name"] == "Abel"


def test_eval_pairs_with_the_added_model(models_dir, tmp_path):
    """The LFW protocol on a few pairs (the first two matched and two mismatched of two folds)."""
    lines = (LFW.parent / "pairs_dev.txt").read_text().splitlines()
    per_class = int(lines[0].split()[1])
    folds = [lines[1 + f * 2 * per_class:][: 2 * per_class] for f in range(2)]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(["2\t2", *(line for fold in folds for line in fold[:2] + fold[per_class:][:2])]) + "\n")
    code, out, err = run(["eval", "pairs", "--pairs", str(pairs), "--root", str(LFW), "--model", NAME, "--no-cache",
                          "--json", *FAST])
    assert code == 0, err
    report = json.loads(out)
    assert report["model"].startswith(f"{NAME}:") and report["pairs"] == 8
