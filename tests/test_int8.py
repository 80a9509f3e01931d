"""int8 inference: near fp32 on real faces, chosen only where it can run, cached by its calibration."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from facerec import FaceRecognizer
from facerec.errors import PrecisionError
from facerec.evaluation.pairs import embed_files
from facerec.models import get_model
from facerec.models.embedders.embedder import OnnxEmbedder
from facerec.models.embedders.int8 import calibration_path, quantized_onnx, resolve_precision
from facerec.runtime import onnx_cache_dir
from tests.conftest import lfw

PEOPLE = ("Abel_Pacheco", "Amber_Tamblyn", "Aaron_Sorkin", "Abdullah_Gul")


@pytest.fixture(scope="module")
def crops(recognizer) -> np.ndarray:
    """Two photos of each of four people, aligned."""
    return recognizer.align([lfw(n, k) for n in PEOPLE for k in (1, 2)]).crops


@pytest.fixture(scope="module")
def fp32() -> OnnxEmbedder:
    return OnnxEmbedder(get_model("mobilefacenet"))


def test_int8_embeddings_stay_near_fp32_and_make_the_same_decisions(crops, fp32):
    int8 = OnnxEmbedder(get_model("mobilefacenet"), precision="int8")
    assert int8.path != fp32.path and "int8" in int8.path.name
    a, b = int8.embed(crops), fp32.embed(crops)
    assert np.all(np.sum(a * b, axis=1) > 0.98)
    assert 1e-4 < np.abs(a - b).max()  # really another model
    threshold = get_model("mobilefacenet").weights.threshold
    np.testing.assert_array_equal(a @ a.T >= threshold, b @ b.T >= threshold)
    same = np.equal.outer(np.repeat(np.arange(4), 2), np.repeat(np.arange(4), 2))
    assert np.array_equal(a @ a.T >= threshold, same)  # and both are right on these people


def test_int8_is_the_default_only_where_it_can_run(tmp_path):
    assert FaceRecognizer().precision == "int8"
    assert FaceRecognizer(backend="torch").precision == "fp32"
    assert FaceRecognizer(precision="fp32").precision == "fp32"
    with pytest.raises(PrecisionError, match="onnxruntime only"):
        FaceRecognizer(backend="torch", precision="int8")
    # a user's weights file has no calibration: auto falls back to fp32, int8 is refused
    model = get_model("mobilefacenet")
    state = {k: v + 0.01 if v.is_floating_point() else v for k, v in model.net.state_dict().items()}
    torch.save(state, tmp_path / "tuned.pt")
    tuned = get_model("mobilefacenet", weights_path=tmp_path / "tuned.pt").weights
    assert calibration_path(tuned) is None
    assert resolve_precision("auto", "onnx", tuned) == "fp32"
    with pytest.raises(PrecisionError, match="no int8 calibration"):
        resolve_precision("int8", "onnx", tuned)
    with pytest.raises(ValueError):
        resolve_precision("int4", "onnx", tuned)


def test_the_int8_model_is_cached_by_its_calibration(fp32, tmp_path):
    calibration = calibration_path(fp32.weights)
    export = tmp_path / fp32.path.name
    export.write_bytes(fp32.path.read_bytes())
    first = quantized_onnx(export, calibration)
    assert first.parent == onnx_cache_dir() and quantized_onnx(export, calibration) == first
    assert not list(tmp_path.glob("*int8*"))  # nothing written beside the fp32 file (a published one is read-only)
    settings = json.loads(calibration.read_text())
    settings["percentile"] = 99.99  # another calibration: its own file
    other = tmp_path / "other.json"
    other.write_text(json.dumps(settings))
    assert quantized_onnx(export, other) != first


def test_a_calibration_made_on_another_export_is_refused(fp32, tmp_path):
    settings = json.loads(calibration_path(fp32.weights).read_text())
    data = settings["ranges"]["data"]
    data["/net/renamed/Conv_output_0"] = data.pop(next(iter(data)))
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(settings))
    with pytest.raises(PrecisionError, match="does not fit this ONNX export"):
        quantized_onnx(fp32.path, stale)  # refused before anything is written beside the export


def test_cached_evaluation_embeddings_are_kept_apart_by_precision(recognizer, tmp_path):
    images = [lfw("Abel_Pacheco"), lfw("Amber_Tamblyn")]
    int8, _ = embed_files(recognizer, images, cache_dir=tmp_path)
    fp32, _ = embed_files(FaceRecognizer(precision="fp32"), images, cache_dir=tmp_path)
    assert np.abs(int8 - fp32).max() > 1e-4  # not served from the int8 entries
    again, _ = embed_files(recognizer, images, cache_dir=tmp_path)
    np.testing.assert_array_equal(again, int8)


def test_verify_says_which_precision_ran():
    from click.testing import CliRunner

    from facerec.cli import main

    a, b = str(lfw("Abel_Pacheco", 1)), str(lfw("Abel_Pacheco", 2))
    for precision in ("fp32", "int8"):
        result = CliRunner().invoke(main, ["verify", a, b, "--json", "--precision", precision])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["precision"] == precision and report["same_person"]
    result = CliRunner().invoke(main, ["verify", a, b, "--backend", "torch", "--precision", "int8"])
    assert result.exit_code != 0 and "onnxruntime only" in result.output and "Traceback" not in result.output
