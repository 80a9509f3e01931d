"""onnxruntime inference: parity with PyTorch on real aligned faces, the export cache, threads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from facerec.models import get_model
from facerec.models.embedders.embedder import OnnxEmbedder
from facerec.runtime import cpu_count, resolve_threads
from tests.conftest import WEIGHTS, lfw


@pytest.fixture(scope="module")
def crops(recognizer) -> np.ndarray:
    paths = [lfw(n) for n in ("Abel_Pacheco", "Amber_Tamblyn", "Aaron_Sorkin", "Abdullah_Gul")]
    return recognizer.align(paths).crops


def test_onnx_embeddings_match_torch_within_1e_4(crops):
    model = get_model("mobilefacenet")
    onnx = OnnxEmbedder(model)
    for flip in (False, True):
        assert np.abs(onnx.embed(crops, flip=flip) - model.embed(crops, flip=flip)).max() < 1e-4


def test_our_export_matches_the_published_onnx_file(crops):
    """../shared holds foamliu's own ONNX export of the same weights: the same network, batch 1."""
    import onnxruntime as ort

    reference = ort.InferenceSession(str(WEIGHTS / "mobilefacenet" / "MobileFaceNet.onnx"),
                                     providers=["CPUExecutionProvider"])
    model = get_model("mobilefacenet")
    mean, std = np.array(model.weights.mean)[:, None, None], np.array(model.weights.std)[:, None, None]
    ours = OnnxEmbedder(model).embed(crops, flip=False)
    for crop, vector in zip(crops, ours):
        pixels = ((crop.transpose(2, 0, 1) / 255.0 - mean) / std).astype(np.float32)[None]
        raw = reference.run(None, {"input0": pixels})[0][0]
        assert np.abs(raw / np.linalg.norm(raw) - vector).max() < 1e-4


def test_changed_weights_get_their_own_export(crops, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEREC_CACHE_DIR", str(tmp_path / "cache"))
    model = get_model("mobilefacenet")
    first = OnnxEmbedder(model)
    state = {k: v.clone() for k, v in model.net.state_dict().items()}
    key = next(k for k in state if k.endswith("weight") and state[k].dim() == 4)
    state[key] += 0.05 * torch.randn_like(state[key], generator=torch.Generator().manual_seed(0))
    path = tmp_path / "tuned.pt"
    torch.save(state, path)
    tuned = get_model("mobilefacenet", weights_path=path)
    second = OnnxEmbedder(tuned)
    assert second.path != first.path and first.path.is_file() and second.path.is_file()
    assert np.abs(second.embed(crops) - tuned.embed(crops)).max() < 1e-4
    assert np.abs(second.embed(crops) - first.embed(crops)).max() > 1e-3  # really the new weights
    again = OnnxEmbedder(tuned)  # found in the cache, not exported again
    assert again.path == second.path


def test_threads_never_exceed_the_cores(monkeypatch):
    monkeypatch.setenv("FACEREC_THREADS", "64")
    assert resolve_threads() == cpu_count()
    monkeypatch.setenv("FACEREC_THREADS", "1")
    assert resolve_threads() == 1
    with pytest.raises(ValueError):
        resolve_threads(0)


def test_pipelined_batches_give_the_same_embeddings_as_one_by_one(recognizer):
    """embed_images decodes and detects the next batch in a thread while it embeds this one."""
    paths = [lfw(n, k) for n in ("Abel_Pacheco", "Amber_Tamblyn") for k in (1, 2)] + [lfw("Aaron_Sorkin")]
    batched = recognizer.embed_images(paths, batch_size=2)
    for path, vector, found in zip(paths, batched.embeddings, batched.detected):
        single = recognizer.embed_crops(recognizer.align([path]).crops)[0]
        # O-Net places the points of a batch's faces together: float sums in another order, ~1e-5 apart
        assert found and np.abs(single - vector).max() < 1e-4


def test_the_published_onnx_files_give_the_pt_files_embeddings_and_landmarks(crops, tmp_path, monkeypatch):
    """Issue 35 item 2: the ONNX files a torch-free install runs are the networks of the PyTorch files."""
    from facerec.models.detectors.landmarks import MTCNN_ONNX, MTCNNLandmarks
    from facerec.models.detectors.retinaface import RetinaFaceDetector
    from facerec.models.embedders import model_file

    published = model_file("mobilefacenet")
    assert published.onnx == WEIGHTS / "onnx" / "mobilefacenet-foamliu-opset17.onnx"
    onnx = OnnxEmbedder(published)
    assert onnx.path == published.onnx  # run as found: nothing exported, nothing copied
    torch_model = get_model("mobilefacenet")
    for flip in (False, True):
        assert np.abs(onnx.embed(crops, flip=flip) - torch_model.embed(crops, flip=flip)).max() < 1e-4
    monkeypatch.setenv("FACEREC_CACHE_DIR", str(tmp_path / "cache"))
    image = np.asarray(Image.open(lfw("Abel_Pacheco")).convert("RGB"))
    shipped = RetinaFaceDetector(weights_path=WEIGHTS / "onnx" / "retinaface-mnet025-opset17.onnx")
    network = RetinaFaceDetector(weights_path=WEIGHTS / "retinaface" / "mobilenet0.25_Final.pth", backend="torch")
    [[a]], [[b]] = shipped.detect([image]), network.detect([image])
    assert np.abs(np.subtract(a.landmarks, b.landmarks)).max() < 1e-2 and shipped.settings == network.settings
    refiner_onnx, refiner_torch = MTCNNLandmarks(backend="onnx"), MTCNNLandmarks(backend="torch")
    assert refiner_onnx.sessions is not None
    assert all((WEIGHTS / "onnx" / entry.filename).is_file() for entry in MTCNN_ONNX.values())
    assert not list((tmp_path / "cache").rglob("*.onnx"))  # the published files ran: nothing was exported
    [[x]], [[y]] = refiner_onnx.refine([image], [[a]]), refiner_torch.refine([image], [[a]])
    assert np.abs(np.subtract(x.landmarks, y.landmarks)).max() < 1e-3


def test_models_export_makes_the_published_files_again(tmp_path):
    """With the torch extra, `facerec models export` regenerates the published ONNX files from the .pt files;
    they give the same outputs. The bytes are the same where no batch norm is folded (MTCNN); folded constants
    may differ in their last bits with the CPU, and the command says which files differ."""
    import onnxruntime as ort
    from click.testing import CliRunner

    from facerec.cli import main

    result = CliRunner().invoke(main, ["models", "export", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.glob("*.onnx"))
    assert names == sorted(p.name for p in (WEIGHTS / "onnx").glob("*.onnx"))
    rng = np.random.default_rng(0)
    for name in names:
        ours, theirs = (ort.InferenceSession(str(folder / name), providers=["CPUExecutionProvider"])
                        for folder in (tmp_path, WEIGHTS / "onnx"))
        first = ours.get_inputs()[0]
        size = [2, 3, *(s if isinstance(s, int) else 64 for s in first.shape[2:])]
        pixels = rng.random(size, dtype=np.float32)
        for a, b in zip(ours.run(None, {first.name: pixels}), theirs.run(None, {first.name: pixels})):
            assert np.abs(a - b).max() <= 1e-5 * max(1.0, float(np.abs(b).max())), name
    lines = [line for line in result.stdout.splitlines() if ".onnx" in line]
    assert len(lines) == len(names)
    assert all(line.endswith("the published file") or "differs from the published file" in line for line in lines)
    assert all(line.endswith("the published file") for line in lines if "mtcnn" in line)
