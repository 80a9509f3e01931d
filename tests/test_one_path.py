"""One detect-and-align path (issue 27, item 4): verify, embed, identify, enrollment (one photo and a folder)
all go through facerec.crops.locate_faces, which names each image in its errors."""

from __future__ import annotations

import numpy as np
import pytest

import facerec.crops
from facerec import FaceRecError, Gallery
from facerec.io import load_image
from tests.conftest import lfw


@pytest.fixture()
def calls(monkeypatch):
    """Every call of locate_faces, by the number of images it was given."""
    seen: list[int] = []
    real = facerec.crops.locate_faces

    def counting(images, **options):  # noqa: ANN001, ANN202
        seen.append(len(images))
        return real(images, **options)

    monkeypatch.setattr(facerec.crops, "locate_faces", counting)
    monkeypatch.setattr("facerec.recognizer.locate_faces", counting)
    return seen


def test_every_entry_point_goes_through_locate_faces(recognizer, calls, tmp_path):
    recognizer.verify(lfw("Abel_Pacheco"), lfw("Abel_Pacheco", 2))
    assert calls == [2]  # both photos, one batch
    recognizer.embed(lfw("Abel_Pacheco"))
    gallery = Gallery(recognizer, db=tmp_path / "g.db")
    gallery.enroll("Abel", [lfw("Abel_Pacheco")])
    gallery.identify(lfw("Abel_Pacheco", 2))
    (tmp_path / "people" / "Amber").mkdir(parents=True)
    (tmp_path / "people" / "Amber" / "1.jpg").write_bytes(lfw("Amber_Tamblyn").read_bytes())
    gallery.enroll_dir(tmp_path / "people", progress=False)
    assert calls == [2, 1, 1, 1, 1]


def test_errors_name_the_image_as_the_caller_does(recognizer, no_face_photo, tmp_path):
    blank = load_image(no_face_photo)  # decoded pixels: only the caller knows where they came from
    with pytest.raises(FaceRecError, match="upload 'digit.png'"):
        recognizer.embed(blank, name="upload 'digit.png'")
    with pytest.raises(FaceRecError, match="upload 'b.png'"):
        recognizer.verify(load_image(lfw("Abel_Pacheco")), blank, names=("upload 'a.jpg'", "upload 'b.png'"))
    gallery = Gallery(recognizer, db=tmp_path / "g.db")
    gallery.enroll("Abel", [lfw("Abel_Pacheco")])
    with pytest.raises(FaceRecError, match="upload 'c.png'"):
        gallery.identify(blank, name="upload 'c.png'")


def test_all_faces_are_aligned_largest_first(recognizer, two_faces_photo):
    [located] = recognizer.locate([two_faces_photo], all_faces=True)
    assert located.found == 2 and len(located.faces) == 2 and located.crops.shape[0] == 2
    areas = [face.area for face in located.faces]
    assert areas == sorted(areas, reverse=True)
    assert np.allclose(recognizer.embed(two_faces_photo, all_faces=True)[0].embedding,
                       recognizer.embed_crops(located.crops)[0], atol=1e-5)


def test_watch_aligns_its_faces_through_locate_faces(recognizer, calls, monkeypatch, tmp_path):
    """A video's faces take the photos' path too (issue 37): the faces `facerec watch` embeds are aligned by
    locate_faces, and embed as the same faces of the frame do through the photo pipeline."""
    pytest.importorskip("av", reason="video needs PyAV: pip install 'facerec[video]'")
    pytest.importorskip("trackers", reason="video needs the tracker: pip install 'facerec[video]'")
    from facerec.video import Watcher, open_video
    from facerec.video.track import box_iou
    from scripts.video_clips import PAN, make_clip

    watch_module = __import__("facerec.video.watch", fromlist=["locate_faces"])
    monkeypatch.setattr(watch_module, "locate_faces", facerec.crops.locate_faces)  # the counting one
    gallery = Gallery(recognizer, db=tmp_path / "g.db")
    gallery.enroll("Abel", [lfw("Abel_Pacheco")])
    with open_video(make_clip(PAN, tmp_path, scale=4.0).path) as video:
        watcher = Watcher(gallery, fps=video.fps)
        frames = iter(video)
        first, second = next(frames), next(frames)
        watcher.feed(first)
        watcher.feed(second)  # the tracker names the faces: their first frame's are embedded
    assert calls == [1, 1]  # enrollment's photo, then the new tracks' faces: one image, one call
    embedded = [kept for track in watcher._open.values() for kept in track.kept]
    assert {kept.frame for kept in embedded} == {first.index}
    photo = recognizer.embed(first.rgb(), all_faces=True)
    assert len(embedded) == len(photo) == 2
    for face in embedded:
        same = max(photo, key=lambda p: box_iou(p.face.box, face.face.box))
        assert box_iou(same.face.box, face.face.box) > 0.8
        assert float(same.embedding @ face.vector) > 0.95
