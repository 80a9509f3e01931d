"""Every registered detector on real photos: one Face format, tiny images, the cascade, face crops."""

from __future__ import annotations

import numpy as np
import pytest

from facerec.alignment import ARCFACE_TEMPLATE_112
from facerec.detection import Face
from facerec.errors import UnknownModelError
from facerec.io import load_image
from facerec.models import get_detector, list_detectors
from facerec.models.detectors import Cascade, DetectorSpec, register_detector
from tests.conftest import ATT, YALE, lfw

PHOTOS = [lfw("Abel_Pacheco"), lfw("Amber_Tamblyn"), lfw("Aaron_Sorkin")]


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [load_image(p) for p in PHOTOS]


# detectors with released weights; yolo-face is trained locally (`facerec zoo detect`), see test_zoo_dense.py
RELEASED = [name for name in list_detectors() if name != "yolo-face"]


@pytest.fixture(scope="module")
def reference(photos) -> list[Face]:
    """MTCNN's faces: the detector the project has used so far, and a peer for the others."""
    return [faces[0] for faces in get_detector("mtcnn", retry=False).detect(photos)]


@pytest.mark.parametrize("name", RELEASED)
def test_every_detector_finds_the_face_with_landmarks_in_image_order(name, photos, reference):
    for faces, ref in zip(get_detector(name, retry=False).detect(photos), reference):
        assert len(faces) == 1, name
        face = faces[0]
        assert face.detector == name and 0.5 < face.score <= 1.0
        assert len(face.landmarks) == 5
        size = ref.box[2] - ref.box[0]
        # left eye, right eye, nose, left mouth, right mouth as seen in the image: close to MTCNN's
        error = np.linalg.norm(np.subtract(face.landmarks, ref.landmarks), axis=1).max()
        assert error < 0.12 * size, (name, error, size)
        (lx, _), (rx, _) = face.landmarks[:2]
        assert lx < rx


@pytest.mark.parametrize("name", RELEASED)
def test_tiny_and_degenerate_images_have_no_face(name):
    images = [np.zeros((8, 8, 3), np.uint8), np.zeros((1, 4000, 3), np.uint8), np.zeros((4000, 1, 3), np.uint8),
              np.full((64, 64, 3), 128, np.uint8)]
    assert get_detector(name).detect(images) == [[], [], [], []]


def test_a_batch_of_mixed_sizes_keeps_each_image_s_faces(photos):
    detector = get_detector("yunet", retry=False)
    small = load_image(ATT / "s1" / "1.pgm")
    mixed = detector.detect([photos[0], small, photos[1]])
    alone = [detector.detect([image])[0] for image in (photos[0], small, photos[1])]
    assert [len(faces) for faces in mixed] == [len(faces) for faces in alone] == [1, 1, 1]
    for got, want in zip(mixed, alone):
        assert got[0].box == pytest.approx(want[0].box, abs=1e-3)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(UnknownModelError, match="yunet"):
        get_detector("viola-jones")
    with pytest.raises(ValueError, match="cannot register"):
        register_detector(DetectorSpec("yunet", build=None, weights=None, backends=("onnx",), note=""))  # type: ignore[arg-type]


def test_the_cascade_finds_a_dark_yale_face_that_the_first_detector_misses():
    """Light from far to the side (azimuth 110-130 degrees): half the face is black."""
    dark = [load_image(p) for p in sorted((YALE / "yaleB11").glob("*P00A+1[123]0E*.pgm"))]
    plain = get_detector("yunet", retry=False).detect(dark)
    cascade = get_detector("yunet,mtcnn")
    assert isinstance(cascade, Cascade)
    found = cascade.detect(dark)
    assert sum(bool(f) for f in found) > sum(bool(f) for f in plain)
    later = [faces[0] for faces in found if faces and "+" in faces[0].detector]
    assert later, "a later stage found a face"
    height, width = dark[0].shape[:2]
    for face in later:  # mapped back into the original photo: eyes inside it, about half its width apart
        (lx, ly), (rx, ry) = face.landmarks[:2]
        assert 0 <= lx < rx < width and 0 <= ly < height and 0.3 < (rx - lx) / width < 0.7


def test_face_crop_mode_uses_the_template_on_the_whole_image(recognizer):
    from facerec import FaceRecognizer

    # fp32: int8 embeddings move by about 0.003 in cosine when pixels change by one grey level
    crop_recognizer = FaceRecognizer(detect=False, precision="fp32")
    aligned = recognizer.align([lfw("Abel_Pacheco")])
    # an aligned 112x112 crop fed back as a face crop is aligned onto itself (pixels within one grey
    # level): the same embedding
    [again] = crop_recognizer.embed(aligned.crops[0])
    assert again.face.detector == "face-crop"
    assert np.allclose(again.face.landmarks, ARCFACE_TEMPLATE_112, atol=1e-6)
    direct = crop_recognizer.embed_crops(aligned.crops)[0]
    assert float(again.embedding @ direct) > 0.999


def test_cli_names_the_detector_stage_and_reads_face_crops(tmp_path, recognizer):
    """--json says which stage found each face; --face-crop embeds a crop with no detection,
    and without it a photo with no face is still an error, never a silent whole-image fallback."""
    import json

    from click.testing import CliRunner
    from PIL import Image

    from facerec.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["verify", str(lfw("Abel_Pacheco")), str(lfw("Abel_Pacheco", 2)),
                                  "--detector", "yunet", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["face_a"]["detector"].startswith("yunet")
    crops = recognizer.align([lfw("Abel_Pacheco"), lfw("Abel_Pacheco", 2)]).crops
    paths = []
    for i, crop in enumerate(crops):  # face crops from "another system", a bit larger than 112
        paths.append(tmp_path / f"crop{i}.png")
        Image.fromarray(crop).resize((150, 150)).save(paths[-1])
    result = runner.invoke(main, ["verify", *map(str, paths), "--face-crop", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["same_person"] and data["face_a"]["detector"] == "face-crop"
    blank = tmp_path / "blank.png"
    Image.new("RGB", (150, 150), (90, 90, 90)).save(blank)
    result = runner.invoke(main, ["verify", str(blank), str(paths[0])])
    assert result.exit_code != 0 and "no face detected in" in result.output and "Traceback" not in result.output


def test_retinaface_finds_the_same_faces_in_both_backends(photos):
    onnx = get_detector("retinaface", backend="onnx", retry=False).detect(photos)
    torch_ = get_detector("retinaface", backend="torch", retry=False).detect(photos)
    for a, b in zip(onnx, torch_):
        assert len(a) == len(b) == 1
        assert np.allclose(a[0].landmarks, b[0].landmarks, atol=0.05) and abs(a[0].score - b[0].score) < 1e-4


def test_mtcnn_landmarks_replace_the_detector_s_unless_they_move_too_far(photos):
    """O-Net re-places LFW landmarks a little; on Yale B it is confidently wrong, and the gate keeps YuNet's."""
    plain = get_detector("yunet", retry=False, landmarks="detector")
    refined = get_detector("yunet", retry=False, landmarks="mtcnn")
    lfw_face, = plain.detect([photos[0]])[0]
    lfw_refined, = refined.detect([photos[0]])[0]
    moved = np.linalg.norm(np.subtract(lfw_refined.landmarks, lfw_face.landmarks), axis=1).max()
    eyes = np.linalg.norm(np.subtract(*lfw_face.landmarks[:2]))
    assert 0 < moved <= 0.3 * eyes and lfw_refined.box == lfw_face.box
    yale = load_image(YALE / "yaleB01" / "yaleB01_P00A+000E+00.pgm")
    yale_face, = plain.detect([yale])[0]
    assert refined.detect([yale])[0] == [yale_face]


def test_mtcnn_landmarks_place_a_batch_as_they_place_each_photo(photos):
    """R-Net and O-Net run once over a whole batch: each photo's points are those it gets alone."""
    refined = get_detector("yunet", retry=False, landmarks="mtcnn")
    batch = [photos[0], np.zeros((40, 40, 3), np.uint8), photos[1], photos[2]]
    together = refined.detect(batch)
    for image, faces in zip(batch, together):
        alone = refined.detect([image])[0]
        assert len(faces) == len(alone)
        for face, single in zip(faces, alone):
            assert np.allclose(face.landmarks, single.landmarks, atol=1e-2)


def test_mtcnn_landmarks_in_onnxruntime_match_pytorch(photos):
    """R-Net and O-Net exported to ONNX place the same points as in PyTorch (within 1e-3 px)."""
    from facerec.models.detectors.landmarks import MTCNNLandmarks

    found = get_detector("yunet", landmarks="detector").detect(photos)
    onnx = MTCNNLandmarks(backend="onnx").refine(photos, found)
    torch_ = MTCNNLandmarks(backend="torch").refine(photos, found)
    for faces_onnx, faces_torch, own in zip(onnx, torch_, found):
        assert len(faces_onnx) == len(faces_torch) == len(own)
        for a, b, c in zip(faces_onnx, faces_torch, own):
            assert np.abs(np.subtract(a.landmarks, b.landmarks)).max() < 1e-3 and a.landmarks != c.landmarks


def _spread(faces: list[Face], reference: list[Face]) -> float:
    """Mean distance of corresponding landmarks, in eye distances of the reference."""
    points, ref = np.array([f.landmarks for f in faces]), np.array([f.landmarks for f in reference])
    eyes = np.linalg.norm(ref[:, 0] - ref[:, 1], axis=1)
    return float((np.linalg.norm(points - ref, axis=2).mean(axis=1) / eyes).mean())


def test_the_default_landmarks_are_mtcnn_s_and_nearer_mtcnn_s_own_than_yunet_s():
    """By default O-Net re-places YuNet's points (so they lie near those of MTCNN's full cascade,
    which ends in the same O-Net); boxes, scores and detector names stay YuNet's."""
    images = [load_image(lfw(name)) for name in ("Abel_Pacheco", "Amber_Tamblyn", "Aaron_Sorkin", "Adam_Sandler",
                                                 "Caroline_Kennedy", "Nicole_Kidman", "Alec_Baldwin", "Ann_Veneman")]
    mtcnn = [faces[0] for faces in get_detector("mtcnn", retry=False).detect(images)]
    own = [faces[0] for faces in get_detector("yunet", retry=False, landmarks="detector").detect(images)]
    default = [faces[0] for faces in get_detector("yunet", retry=False).detect(images)]
    assert [(f.box, f.score, f.detector) for f in default] == [(f.box, f.score, f.detector) for f in own]
    assert _spread(default, mtcnn) < 0.5 * _spread(own, mtcnn)


def test_detector_options_are_part_of_the_pipeline_config_and_reach_every_detector(photos):
    """Score threshold, NMS overlap and working size travel in the PipelineConfig, handed whole to each builder."""
    from facerec.config import ConfigError, PipelineConfig
    from facerec.models.detectors import build_detector
    from facerec.recognizer import build_recognizer

    def inner(settings: dict) -> list[dict]:  # each stage's own detector settings (inside a landmark refiner)
        return [(s.get("inner") or s) for s, _how in settings["steps"]]

    base = PipelineConfig(detectors=("yunet", "retinaface"), landmarks="detector")
    own = inner(build_detector(base).settings)
    assert {s["name"]: s["min_score"] for s in own} == {"yunet": 0.8, "retinaface": 0.9}  # each its own default
    config = base.with_(min_score=0.6, nms_iou=0.5, max_side=320)
    recognizer = build_recognizer(config)
    assert recognizer.config == PipelineConfig.from_dict(config.to_dict()) == config
    assert all((s["min_score"], s["nms_iou"], s["max_side"]) == (0.6, 0.5, 320)
               for s in inner(recognizer.detector.settings))
    refined = build_detector(config.with_(landmarks="mtcnn"))  # through MTCNN's landmark refiner too
    assert all(s["min_score"] == 0.6 for s in inner(refined.settings))
    from facerec.video.watch import video_detector  # and to the detector that follows faces in a video

    assert video_detector(recognizer)[0].settings["min_score"] == 0.6

    # and it decides: a score threshold over the face's score drops it
    [[face]] = build_detector(config.with_(detectors=("yunet",))).detect(photos[:1])
    strict = build_detector(config.with_(detectors=("yunet",), min_score=min(1.0, face.score + 0.01)))
    assert strict.detect(photos[:1]) == [[]]

    for bad in ({"min_score": 0}, {"min_score": 1.5}, {"nms_iou": True}, {"max_side": 8}, {"max_side": 320.5}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            base.with_(**bad)
