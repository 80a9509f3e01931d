"""RetinaFace: strict loading, priors and decoding, detections on real photos beside MTCNN, ONNX parity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from facerec.errors import WeightsNotFoundError
from facerec.io import load_image
from facerec.models import get_detector
from facerec.models.detectors.retinaface import (
    RetinaFaceDetector,
    RetinaFaceNet,
    _to_input,
    decode_boxes,
    decode_landmarks,
    prior_boxes,
)
from tests.conftest import ATT, WEIGHTS, YALE, lfw

RF_FILE = WEIGHTS / "retinaface" / "mobilenet0.25_Final.pth"
LFW_NAMES = ("Aaron_Patterson", "Aaron_Sorkin", "Abbas_Kiarostami", "Abdel_Madi_Shabneh", "Abdoulaye_Wade",
             "Abel_Pacheco", "Amber_Tamblyn")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def detector() -> RetinaFaceDetector:
    return RetinaFaceDetector(weights_path=RF_FILE)


@pytest.fixture(scope="module")
def lfw_images() -> list[np.ndarray]:
    return [load_image(lfw(name)) for name in LFW_NAMES]


def test_checkpoint_loads_strictly_and_covers_every_tensor():
    state = torch.load(RF_FILE, map_location="cpu", weights_only=True)
    net = RetinaFaceNet()
    assert set(net.state_dict()) == set(state)
    net.load_state_dict(state, strict=True)  # raises on any missing, unexpected or mis-shaped tensor


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        RetinaFaceDetector(weights_path=tmp_path / "nothing.pth")


@pytest.mark.parametrize("height, width", [(250, 250), (112, 92), (201, 333), (17, 640)])
def test_prior_count_follows_the_strides_and_matches_the_network(detector, height, width):
    expected = sum(2 * math.ceil(height / s) * math.ceil(width / s) for s in (8, 16, 32))
    priors = prior_boxes(height, width)
    assert priors.shape == (expected, 4)
    loc, conf, landms = detector._forward(np.zeros((1, 3, height, width), np.float32))
    assert loc.shape == (1, expected, 4) and conf.shape == (1, expected, 2) and landms.shape == (1, expected, 10)
    # the first cell of stride 8: centre (4, 4) pixels, anchors 16 then 32 pixels
    np.testing.assert_allclose(priors[:2], [[4 / width, 4 / height, 16 / width, 16 / height],
                                            [4 / width, 4 / height, 32 / width, 32 / height]], rtol=1e-6)


def test_decoding_inverts_a_hand_encoded_box_and_landmarks():
    prior = np.float32([0.5, 0.4, 0.2, 0.25])  # cx, cy, w, h
    box = np.float32([0.42, 0.30, 0.66, 0.55])  # x1, y1, x2, y2
    points = np.float32([[0.45, 0.38], [0.60, 0.37], [0.52, 0.45], [0.47, 0.50], [0.58, 0.51]])
    centre, size = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
    loc = np.concatenate([(centre - prior[:2]) / (0.1 * prior[2:]), np.log(size / prior[2:]) / 0.2])
    landms = ((points - prior[:2]) / (0.1 * prior[2:])).reshape(10)
    np.testing.assert_allclose(decode_boxes(loc[None], prior[None])[0], box, atol=1e-6)
    np.testing.assert_allclose(decode_landmarks(landms[None], prior[None])[0], points, atol=1e-6)


def test_one_face_per_lfw_photo_with_landmarks_near_mtcnn(detector, lfw_images):
    ours = detector.detect(lfw_images)
    mtcnn = get_detector("mtcnn").detect(lfw_images)
    for name, faces, reference in zip(LFW_NAMES, ours, mtcnn):
        assert len(faces) == 1, name
        face, peer = faces[0], reference[0]
        assert face.score >= 0.9
        width = peer.box[2] - peer.box[0]
        gaps = np.linalg.norm(np.subtract(face.landmarks, peer.landmarks), axis=1)
        assert gaps.max() < 0.08 * width, (name, gaps.round(1), width)  # same order, a few pixels apart
        (lex, ley), (rex, rey), (nx, ny), (lmx, lmy), (rmx, rmy) = face.landmarks
        assert lex < nx < rex and lmx < rmx and max(ley, rey) < ny < min(lmy, rmy), name


def test_mirrored_photo_mirrors_the_landmarks(detector, lfw_images):
    image = lfw_images[1]
    [[face]], [[mirrored]] = detector.detect([image]), detector.detect([image[:, ::-1].copy()])
    width = image.shape[1]
    flipped_back = [(width - x, y) for x, y in mirrored.landmarks]
    swapped = [flipped_back[i] for i in (1, 0, 2, 4, 3)]  # left and right trade places in a mirror
    assert np.abs(np.subtract(swapped, face.landmarks)).max() < 4


def test_large_photos_are_shrunk_and_mapped_back_to_original_pixels(detector, lfw_images):
    big = np.asarray(Image.fromarray(lfw_images[0]).resize((1000, 1000), Image.BILINEAR))
    shrunk = np.asarray(Image.fromarray(big).resize((640, 640), Image.BILINEAR))
    [[big_face]], [[shrunk_face]] = detector.detect([big]), detector.detect([shrunk])
    np.testing.assert_allclose(big_face.box, np.multiply(shrunk_face.box, 1000 / 640), rtol=1e-5)
    np.testing.assert_allclose(big_face.landmarks, np.multiply(shrunk_face.landmarks, 1000 / 640), rtol=1e-5)
    [[small_face]] = detector.detect([lfw_images[0]])  # the same face at 250 pixels, found at another scale
    width = small_face.box[2] - small_face.box[0]
    assert np.abs(np.divide(big_face.landmarks, 4) - small_face.landmarks).max() < 0.08 * width


def test_batch_of_mixed_sizes_matches_one_by_one(detector, lfw_images):
    images = [lfw_images[0], load_image(ATT / "s1" / "1.pgm"), lfw_images[2]]
    together = detector.detect(images)
    alone = [detector.detect([image])[0] for image in images]
    assert [len(f) for f in together] == [1, 1, 1]
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a[0].box, b[0].box, atol=1e-3)


def test_frontally_lit_yale_crop_has_one_face(detector):
    [faces] = detector.detect([load_image(YALE / "yaleB01" / "yaleB01_P00A+000E+00.pgm")])
    assert len(faces) == 1


@pytest.mark.parametrize("shape", [(8, 8, 3), (1, 4000, 3), (4000, 1, 3), (15, 300, 3)])
def test_tiny_or_thin_images_have_no_face(detector, shape):
    assert detector.detect([np.full(shape, 128, np.uint8)]) == [[]]


def test_blank_image_and_empty_list(detector):
    assert detector.detect([np.full((200, 300, 3), 128, np.uint8)]) == [[]]
    assert detector.detect([]) == []
    with pytest.raises(ValueError, match="H x W x 3"):
        detector.detect([np.zeros((50, 50), np.uint8)])


def test_settings_are_a_cache_key(detector):
    other = RetinaFaceDetector(weights_path=RF_FILE, min_score=0.8)
    assert detector.settings["version"] >= 1 and len(detector.settings["weights_sha256"]) == 64
    assert detector.settings != other.settings


def test_onnx_export_with_dynamic_shapes_matches_torch(detector, lfw_images, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = detector.export_onnx(tmp_path / "retinaface.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    portrait = np.asarray(Image.fromarray(lfw_images[3]).resize((201, 333)))
    for batch in (np.stack(lfw_images[:2]), portrait[None], load_image(ATT / "s2" / "1.pgm")[None]):
        inputs = _to_input(batch)
        for ours, theirs in zip(detector._forward(inputs), session.run(None, {"input": inputs})):
            assert ours.shape == theirs.shape
            np.testing.assert_allclose(theirs, ours, atol=1e-4)
