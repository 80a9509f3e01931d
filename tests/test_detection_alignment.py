"""MTCNN detection (with its retry on a corrected copy) and 5-point alignment on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from facerec.alignment import ARCFACE_TEMPLATE_112, Alignment, align_faces, estimate_similarity
from facerec.detection import Face, fallback_face, select_face
from facerec.io import load_image
from facerec.models import get_detector
from tests.conftest import ATT, YALE, lfw


@pytest.fixture(scope="module")
def detector():
    return get_detector("mtcnn")


def test_one_face_with_landmarks_inside_its_box(detector):
    [faces] = detector.detect([load_image(lfw("Abel_Pacheco"))])
    assert len(faces) == 1
    face = faces[0]
    x1, y1, x2, y2 = face.box
    assert face.score > 0.95 and 50 < x2 - x1 < 200
    assert len(face.landmarks) == 5
    assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face.landmarks)
    (lx, ly), (rx, ry) = face.landmarks[:2]
    assert lx < rx and abs(ly - ry) < 15  # left eye left of right eye, roughly level


def test_batch_of_different_sizes_matches_single_calls(detector):
    images = [load_image(lfw("Abel_Pacheco")), load_image(ATT / "s1" / "1.pgm"), load_image(lfw("Amber_Tamblyn"))]
    batched = detector.detect(images)
    singles = [detector.detect([image])[0] for image in images]
    for many, one in zip(batched, singles):
        assert len(many) == len(one) == 1
        assert np.allclose(many[0].box, one[0].box, atol=1.0)


def test_several_faces_largest_first(detector, two_faces_photo):
    [faces] = detector.detect([load_image(two_faces_photo)])
    assert len(faces) == 2
    assert faces[0].area > faces[1].area
    assert faces[0].box[0] < 250 < faces[1].box[0]  # the large face is the left portrait


def test_no_face(detector, no_face_photo):
    assert detector.detect([load_image(no_face_photo)]) == [[]]


def test_large_photo_is_shrunk_but_boxes_are_in_original_pixels(detector):
    image = load_image(lfw("Abel_Pacheco"))
    big = np.kron(image, np.ones((5, 5, 1), np.uint8))  # 1250 x 1250
    [[small_face]] = detector.detect([image])
    [[big_face]] = detector.detect([big])
    assert np.allclose(np.array(big_face.box) / 5, small_face.box, atol=4)


def test_select_center_prefers_the_central_face():
    middle = Face((90, 90, 160, 160), 0.99, ((0, 0),) * 5)
    corner = Face((0, 0, 100, 100), 0.99, ((0, 0),) * 5)
    assert select_face([corner, middle], (250, 250), "largest") is corner
    assert select_face([corner, middle], (250, 250), "center") is middle


def test_similarity_transform_is_recovered():
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = ARCFACE_TEMPLATE_112
    dst = src @ rotation.T + shift
    matrix = estimate_similarity(src, dst)
    assert np.allclose(matrix[:, :2], rotation, atol=1e-9) and np.allclose(matrix[:, 2], shift, atol=1e-9)


def test_aligned_crop_puts_the_eyes_on_the_template(detector):
    image = load_image(lfw("Abel_Pacheco"))
    [[face]] = detector.detect([image])
    crop = align_faces(image, [face], Alignment(size=112))
    assert crop.shape == (1, 112, 112, 3)
    canvas = np.full((336, 336, 3), 128, np.uint8)  # MTCNN wants some context around a face
    canvas[112:224, 112:224] = crop[0]
    [[again]] = detector.detect([canvas])
    eyes = np.array(again.landmarks[:2]) - 112
    assert np.abs(eyes - ARCFACE_TEMPLATE_112[:2]).max() < 3


def test_box_alignment_and_fallback():
    image = load_image(lfw("Abel_Pacheco"))
    fallback = fallback_face(image.shape, ARCFACE_TEMPLATE_112, 112)
    assert fallback.score == 0.0 and fallback.box == (62.5, 62.5, 187.5, 187.5)
    crop = align_faces(image, [fallback], Alignment(size=160, method="box"))
    assert crop.shape == (1, 160, 160, 3)


def test_tight_crops_are_found_on_the_retry(detector):
    """Extended Yale B crops fill the frame: plain MTCNN misses them or boxes the wrong scale."""
    photos = [load_image(p) for p in sorted((YALE / "yaleB11").glob("*.pgm"))[::5]]  # 12 lightings

    def plausible(faces: list[Face], width: int) -> bool:  # eyes inside, about 0.55 of the width apart
        if not faces:
            return False
        (lx, _), (rx, _) = faces[0].landmarks[:2]
        return 0 <= lx < rx < width and 0.4 < (rx - lx) / width < 0.7

    plain = get_detector("mtcnn", retry=False).detect(photos)
    retried = detector.detect(photos)
    assert sum(plausible(f, p.shape[1]) for f, p in zip(plain, photos)) <= 6
    assert sum(plausible(f, p.shape[1]) for f, p in zip(retried, photos)) >= 11
