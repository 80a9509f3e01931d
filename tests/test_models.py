"""Model registry, weights resolution, MobileFaceNet parity with its ONNX export."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from facerec.errors import UnknownModelError, WeightsHashError, WeightsNotFoundError
from facerec.models import get_model, get_weights, list_models
from facerec.models.embedders.mobilefacenet import mobilefacenet
from facerec.models.weights import resolve_weights
from tests.conftest import WEIGHTS, lfw

MFN_FILE = WEIGHTS / "mobilefacenet" / "mobilefacenet.pt"


def test_registry_lists_models_and_rejects_unknown_names():
    assert {"mobilefacenet", "inception_resnet_v1"} <= set(list_models())
    with pytest.raises(UnknownModelError, match="known models: inception_resnet_v1, mobilefacenet"):
        get_model("facenet512")
    with pytest.raises(UnknownModelError, match="vggface2"):
        get_weights("inception_resnet_v1", "imagenet")


def test_a_users_weights_file_gets_its_own_key(tmp_path):
    published = get_model("mobilefacenet", weights_path=MFN_FILE)
    assert published.weights.key == "mobilefacenet:foamliu"  # the published file, by path
    state = torch.load(MFN_FILE, map_location="cpu", weights_only=True)
    state["conv1.0.weight"] = state["conv1.0.weight"] * 1.01
    torch.save(state, tmp_path / "tuned.pt")
    tuned = get_model("mobilefacenet", weights_path=tmp_path / "tuned.pt")
    digest = hashlib.sha256((tmp_path / "tuned.pt").read_bytes()).hexdigest()
    # galleries and caches are bound to the key: a fine-tuned file must not pass for the published one
    assert tuned.weights.key == f"mobilefacenet:foamliu+file-{digest[:12]}"
    assert tuned.weights.sha256 == digest and tuned.weights.url is None


def test_mobilefacenet_state_dict_loads_strictly():
    state = torch.load(MFN_FILE, map_location="cpu", weights_only=True)
    result = mobilefacenet().load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert len(state) == 307


def test_weights_entry_matches_the_file():
    entry = get_weights("mobilefacenet")
    assert hashlib.sha256(MFN_FILE.read_bytes()).hexdigest() == entry.sha256
    assert entry.url.endswith("weights/mobilefacenet.pt") and "foamliu/MobileFaceNet" in entry.url
    assert entry.alignment.size == 112 and entry.embedding_size == 128


def test_output_matches_onnx_export_on_real_aligned_faces(recognizer):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(WEIGHTS / "mobilefacenet" / "MobileFaceNet.onnx"))
    model = recognizer.model
    for name in ("Abel_Pacheco", "Amber_Tamblyn", "Akhmed_Zakayev"):
        image = recognizer.load(lfw(name))
        crop = __import__("facerec.alignment", fromlist=["align_faces"]).align_faces(
            image, recognizer.detect(image)[:1], model.weights.alignment)
        pixels = torch.from_numpy(crop).permute(0, 3, 1, 2).float() / 255
        normalised = ((pixels - model.mean) / model.std).numpy()
        with torch.inference_mode():
            ours = model.net(torch.from_numpy(normalised)).numpy()
        theirs = session.run(None, {session.get_inputs()[0].name: normalised})[0]
        assert np.abs(ours - theirs).max() < 1e-4


def test_embeddings_are_unit_length(recognizer):
    crops = np.random.default_rng(0).integers(0, 255, (3, 112, 112, 3), dtype=np.uint8)
    for flip in (True, False):
        vectors = recognizer.model.embed(crops, flip=flip)
        assert vectors.shape == (3, 128) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert recognizer.model.embed(crops[:0]).shape == (0, 128)


def test_inception_resnet_builds_and_preprocesses_without_weights():
    model = get_model("inception_resnet_v1", pretrained=False)
    entry = model.weights
    assert entry.alignment.method == "box" and entry.alignment.size == 160 and entry.embedding_size == 512
    crops = np.full((2, 160, 160, 3), 255, np.uint8)
    assert model.embed(crops, flip=False).shape == (2, 512)
    # facenet-pytorch's fixed_image_standardization: (x - 127.5) / 128
    assert torch.allclose((torch.ones(1, 3, 1, 1) - model.mean) / model.std, torch.full((1, 3, 1, 1), 127.5 / 128))


@pytest.mark.parametrize("tag", ["vggface2", "casia-webface"])
def test_missing_inception_weights_say_what_and_where(tag, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    entry = get_weights("inception_resnet_v1", tag)
    with pytest.raises(WeightsNotFoundError) as info:
        get_model("inception_resnet_v1", tag=tag)
    message = str(info.value)
    assert entry.filename in message and entry.url in message and "FACEREC_WEIGHTS_DIR" in message


def test_weights_search_order(monkeypatch, tmp_path):
    entry = get_weights("mobilefacenet")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("FACEREC_WEIGHTS_DIR", str(WEIGHTS))
    assert resolve_weights(entry) == WEIGHTS / "mobilefacenet" / "mobilefacenet.pt"  # <dir>/<model>/<file>
    assert resolve_weights(entry, MFN_FILE) == MFN_FILE  # an explicit path wins
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        resolve_weights(entry, tmp_path / "nope.pt")
    monkeypatch.delenv("FACEREC_WEIGHTS_DIR")
    cached = tmp_path / "cache" / "facerec" / "weights" / "mobilefacenet.pt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(MFN_FILE.read_bytes())
    assert resolve_weights(entry) == cached


def test_a_tampered_weights_file_found_by_name_is_refused(monkeypatch, tmp_path):
    """A different file under the published name, in FACEREC_WEIGHTS_DIR or the cache, is never used."""
    entry = get_weights("mobilefacenet")
    tampered = bytearray(MFN_FILE.read_bytes())
    tampered[-100] ^= 0xFF
    (tmp_path / "mobilefacenet.pt").write_bytes(bytes(tampered))
    monkeypatch.setenv("FACEREC_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(WeightsHashError, match="not the published mobilefacenet:foamliu"):
        resolve_weights(entry)
    with pytest.raises(WeightsHashError):
        get_model("mobilefacenet")
    monkeypatch.setenv("FACEREC_WEIGHTS_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cached = tmp_path / "cache" / "facerec" / "weights" / "mobilefacenet.pt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(bytes(tampered))
    with pytest.raises(WeightsHashError):
        resolve_weights(entry)


def test_register_model_refuses_a_duplicate_name():
    from facerec.models import ModelSpec, register_model

    with pytest.raises(ValueError, match="already registered"):
        register_model(ModelSpec("mobilefacenet", build=lambda w: None, weights={}, default="x"))  # type: ignore[arg-type,return-value]


def test_download_checks_the_hash_and_leaves_nothing_behind(monkeypatch, tmp_path):
    """The real download path over a file:// URL (no network here)."""
    from dataclasses import replace

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("FACEREC_WEIGHTS_DIR")
    good = replace(get_weights("mobilefacenet"), url=MFN_FILE.as_uri())
    path = resolve_weights(good, download=True)
    assert path.read_bytes() == MFN_FILE.read_bytes()
    path.unlink()
    bad = replace(good, sha256="0" * 64)
    with pytest.raises(WeightsHashError):
        resolve_weights(bad, download=True)
    assert list(path.parent.iterdir()) == []


def test_a_relative_weights_dir_is_resolved_and_every_place_searched_is_named(monkeypatch, tmp_path):
    entry = get_weights("mobilefacenet")
    (tmp_path / "w" / "mobilefacenet").mkdir(parents=True)
    (tmp_path / "w" / "mobilefacenet" / "mobilefacenet.pt").symlink_to(MFN_FILE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACEREC_WEIGHTS_DIR", "w")
    found = resolve_weights(entry)
    assert found.is_absolute() and found == tmp_path / "w" / "mobilefacenet" / "mobilefacenet.pt"
    monkeypatch.setenv("FACEREC_WEIGHTS_DIR", "missing")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_weights(entry, download=False)
    message = str(info.value)
    missing = tmp_path / "missing"
    for place in (missing / "mobilefacenet.pt", missing / "mobilefacenet" / "mobilefacenet.pt",
                  tmp_path / "cache" / "facerec" / "weights" / "mobilefacenet.pt"):
        assert str(place) in message


def test_an_onnx_weights_file_is_run_as_given_under_the_published_key_only_if_it_is_the_published_file(tmp_path):
    """`--weights FILE.onnx`: facerec's export of the model (as `facerec models export` writes it) runs as it is;
    any other file gets a key of its own, so a gallery never mixes its embeddings with the published model's."""
    from facerec.models import model_file

    shipped = WEIGHTS / "onnx" / "mobilefacenet-foamliu-opset17.onnx"
    published = model_file("mobilefacenet", weights_path=shipped)
    assert published.onnx == shipped and published.weights.key == "mobilefacenet:foamliu"
    other = tmp_path / "mine.onnx"
    other.write_bytes(shipped.read_bytes() + b"\n")  # another file: another sha256
    mine = model_file("mobilefacenet", weights_path=other)
    digest = hashlib.sha256(other.read_bytes()).hexdigest()
    assert mine.onnx == other and mine.weights.key == f"mobilefacenet:foamliu+file-{digest[:12]}"
    assert mine.weights.onnx is None and mine.load is None
