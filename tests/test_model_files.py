"""Model files are never trusted unchecked: cached ONNX exports and int8 models are checked against the
sha256 facerec recorded when it made them (outside the cache: a digest rewritten beside a planted file is not
believed), the published ONNX files against their published sha256, bad --weights files are one clear error,
a network that cannot be exported to ONNX runs in PyTorch without flooding stdout (and is not tried again), and
``facerec models`` says which detector has no released weights."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from facerec import FaceRecognizer
from facerec.cli import main
from facerec.crops import align_images
from facerec.errors import WeightsError, WeightsHashError
from facerec.fileio import sha256_file
from facerec.models import get_detector, get_model, model_file
from facerec.models.embedders.embedder import OnnxEmbedder
from facerec.models.embedders.resnet import resnet18
from facerec.runtime import made_records_dir, onnx_session
from tests.conftest import WEIGHTS, lfw

SAME = (lfw("Abel_Pacheco", 1), lfw("Abel_Pacheco", 2))
OTHER = lfw("Amber_Tamblyn")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """A cache and a data folder (where the records of made files live) of this test's own: the tests below
    delete records, which must not be the run's (its cohort's record among them)."""
    monkeypatch.setenv("FACEREC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "cache" / "onnx"


@pytest.fixture(scope="module")
def model():
    return get_model("mobilefacenet")


@pytest.fixture(scope="module")
def crops(model) -> np.ndarray:
    """Two photos of one person and one of another, aligned (YuNet is an ONNX file: nothing is exported)."""
    detector = get_detector("yunet", landmarks="detector")
    return align_images([*SAME, OTHER], detector=detector, alignment=model.weights.alignment).crops


def similarities(vectors: np.ndarray) -> tuple[float, float]:
    """(same person, different people)."""
    return float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])


class Constant(nn.Module):
    """What an attacker would put in the cache: every face gets the same embedding."""

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.ones(1, 128) + 0.0 * pixels.mean(dim=(1, 2, 3))[:, None]


def write_constant_model(path: Path) -> None:
    torch.onnx.export(Constant(), (torch.rand(2, 3, 112, 112),), str(path), input_names=["pixels"],
                      output_names=["raw"], dynamic_axes={"pixels": {0: "batch"}, "raw": {0: "batch"}},
                      opset_version=17, dynamo=False)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_replaced_export_is_made_again_not_run(precision, model, crops, tmp_path, cache, capsys):
    first = OnnxEmbedder(model, precision=precision)
    same, other = similarities(first.embed(crops))
    assert same > model.weights.threshold > other
    capsys.readouterr()
    write_constant_model(first.path)  # the file the next load would run
    tampered = onnx_session(first.path).run(None, {"pixels": np.zeros((2, 3, 112, 112), np.float32)})[0]
    assert np.allclose(tampered[0], tampered[1])  # run unchecked, it would call everyone the same person
    again = OnnxEmbedder(model, precision=precision)
    assert again.path == first.path
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has changed since it was written" in err and first.path.name in err
    assert similarities(again.embed(crops)) == pytest.approx((same, other), abs=1e-5)
    capsys.readouterr()
    OnnxEmbedder(model, precision=precision)  # made again and recorded: trusted from now on, silently
    assert capsys.readouterr().err == ""


def test_a_truncated_or_unrecorded_export_is_made_again(model, crops, cache, capsys):
    first = OnnxEmbedder(model, precision="fp32")
    expected = first.embed(crops)
    data = first.path.read_bytes()
    first.path.write_bytes(data[: len(data) // 2])  # onnxruntime would raise InvalidProtobuf on it
    capsys.readouterr()
    again = OnnxEmbedder(model, precision="fp32")
    assert "has changed since it was written" in capsys.readouterr().err
    np.testing.assert_allclose(again.embed(crops), expected, atol=1e-6)
    for record in made_records_dir().glob("*.sha256"):  # files facerec has no record of making
        record.unlink()
    # byte for byte the published ONNX file (an export may differ from it in the last bits of the folded batch
    # norms, which depend on the CPU): its digest is in the code, so it is trusted without a record
    again.path.write_bytes((WEIGHTS / "onnx" / "mobilefacenet-foamliu-opset17.onnx").read_bytes())
    capsys.readouterr()
    OnnxEmbedder(model, precision="fp32")
    assert capsys.readouterr().err == ""
    int8 = OnnxEmbedder(model, precision="int8")  # made from it, and recorded
    for record in made_records_dir().glob("*.sha256"):
        record.unlink()
    capsys.readouterr()
    assert OnnxEmbedder(model, precision="int8").path == int8.path
    assert "was not made by facerec here" in capsys.readouterr().err
    assert list(made_records_dir().glob("*.sha256"))


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_planted_export_with_its_sha256_rewritten_beside_it_is_made_again(precision, model, crops, cache, capsys):
    """Issue 34.9: whoever can write the cache can rewrite a digest kept beside a file there. A constant-output
    model put in place of the export (or of the int8 model), its ``.sha256`` updated to match, is not run."""
    first = OnnxEmbedder(model, precision=precision)
    same, other = similarities(first.embed(crops))
    write_constant_model(first.path)
    Path(str(first.path) + ".sha256").write_text(f"{sha256_file(first.path)}  {first.path.name}\n")
    capsys.readouterr()
    again = OnnxEmbedder(model, precision=precision)
    err = capsys.readouterr().err
    assert "making it again" in err and first.path.name in err
    assert similarities(again.embed(crops)) == pytest.approx((same, other), abs=1e-5)
    assert other < model.weights.threshold  # a stranger is not "the same person at 1.0000"


def test_the_default_pipelines_int8_model_planted_in_the_cache_is_not_run(cache, capsys):
    """The everyday path (the published ONNX file, quantized into the cache): a planted int8 model with a
    matching ``.sha256`` beside it does not make a stranger and Abel the same person."""
    recognizer = FaceRecognizer(detector="yunet", landmarks="detector")
    assert recognizer.precision == "int8" and recognizer.embedder.path.parent == cache
    stranger = recognizer.verify(SAME[0], OTHER).similarity
    path = recognizer.embedder.path
    write_constant_model(path)
    Path(str(path) + ".sha256").write_text(f"{sha256_file(path)}  {path.name}\n")
    capsys.readouterr()
    again = FaceRecognizer(detector="yunet", landmarks="detector")
    assert "making it again" in capsys.readouterr().err
    result = again.verify(SAME[0], OTHER)
    assert not result.same_person and result.similarity == pytest.approx(stranger, abs=1e-5)


def test_a_published_onnx_file_replaced_in_the_weights_folder_is_refused(tmp_path, monkeypatch):
    shipped = WEIGHTS / "onnx" / "mobilefacenet-foamliu-opset17.onnx"
    folder = tmp_path / "weights" / "onnx"
    folder.mkdir(parents=True)
    write_constant_model(folder / shipped.name)
    monkeypatch.setenv("FACEREC_WEIGHTS_DIR", str(tmp_path / "weights"))
    with pytest.raises(WeightsHashError, match="is not the published mobilefacenet:foamliu-onnx"):
        model_file("mobilefacenet")


def _bad_weights(tmp_path: Path, model) -> dict[str, tuple[Path, str]]:
    """Bad weights files for mobilefacenet, and a word each error must say."""
    files: dict[str, tuple[Path, str]] = {}

    def put(name: str, word: str, write) -> None:
        path = tmp_path / f"{name}.pt"
        write(path)
        files[name] = (path, word)

    put("garbage", "not a PyTorch weights file", lambda p: p.write_bytes(b"\x00garbage, not weights\xff" * 50))
    put("empty", "empty", lambda p: p.write_bytes(b""))
    put("pickle", "not a PyTorch weights file", lambda p: p.write_bytes(pickle.dumps({"net": [1, 2, 3]})))
    put("objects", "other than tensors", lambda p: torch.save({"net": np.zeros(3)}, p))
    put("list", "not a state_dict", lambda p: torch.save([torch.zeros(3)], p))
    put("other_network", "does not fit mobilefacenet", lambda p: torch.save(resnet18().state_dict(), p))
    state = dict(model.net.state_dict())
    key = next(k for k, v in state.items() if v.dim() == 4)
    state[key] = state[key][:, :1].clone()
    put("wrong_shape", "size mismatch", lambda p: torch.save(state, p))
    put("truncated", "cut short", lambda p: p.write_bytes(Path(tmp_path / "wrong_shape.pt").read_bytes()[:5000]))
    return files


def test_bad_weights_files_are_one_clear_error(model, tmp_path):
    runner = CliRunner()
    for name, (path, word) in _bad_weights(tmp_path, model).items():
        with pytest.raises(WeightsError, match=word):
            get_model("mobilefacenet", weights_path=path)
        result = runner.invoke(main, ["verify", str(SAME[0]), str(SAME[1]), "--weights", str(path)])
        assert result.exit_code == 1, (name, result.output)
        assert result.stdout == "" and "Traceback" not in result.output, name
        assert result.stderr.count("\n") == 1 and word in result.stderr and str(path) in result.stderr, name


def test_a_network_that_cannot_be_exported_runs_in_torch_without_a_word_on_stdout(tmp_path, cache, monkeypatch,
                                                                                   capfd):
    """The README's recipe (resnet18 at input size 64) resizes inside the network, which opset 17 cannot do."""
    torch.manual_seed(0)
    weights = tmp_path / "model.pt"
    torch.save(resnet18(input_size=64).state_dict(), weights)
    exports = []
    export = torch.onnx.export
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: exports.append(1) or export(*a, **k))
    args = ["verify", str(SAME[0]), str(SAME[1]), "--json", "--model", "resnet18", "--weights", str(weights),
            "--detector", "yunet", "--landmarks", "detector"]
    runner = CliRunner()
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)  # stdout holds the answer only
    assert len(exports) == 1
    assert first.stderr.count("\n") == 1 and "cannot be exported to ONNX" in first.stderr
    assert "Torch IR graph" not in first.output and "TracerWarning" not in first.output
    assert capfd.readouterr().out == ""  # nor on the process's own stdout, where the exporter's C++ prints
    assert list(cache.glob("*.onnx.failed")) and not list(cache.glob("*.onnx"))
    second = runner.invoke(main, args)
    assert second.exit_code == 0 and second.stderr == ""
    assert len(exports) == 1  # the failure was remembered: not tried again
    assert json.loads(second.stdout)["similarity"] == report["similarity"]
    torch_run = runner.invoke(main, [*args, "--backend", "torch"])
    assert json.loads(torch_run.stdout)["similarity"] == pytest.approx(report["similarity"], abs=1e-6)


def test_models_says_yolo_face_has_no_released_weights(monkeypatch):
    monkeypatch.delenv("FACEREC_YOLO_WEIGHTS", raising=False)
    runner = CliRunner()
    rows = json.loads(runner.invoke(main, ["models", "--json"]).stdout)["detectors"]
    detectors = {row["detector"]: row for row in rows}
    assert detectors["yolo-face"]["local"] is None and not detectors["yolo-face"]["released"]
    assert detectors["mtcnn"]["local"] == "bundled" and detectors["mtcnn"]["released"]
    text = runner.invoke(main, ["models"]).stdout
    line = text[text.index("yolo-face"):]
    assert "no released weights" in line.splitlines()[0] and "facerec zoo detect" in line
