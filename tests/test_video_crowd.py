"""Video on real footage (issue 37): the 1080p street clip facenet-pytorch's own tracking example uses
(``../shared/data/video/facenet-pytorch-crowd.mp4``, 105 frames, many faces crossing). Two people are enrolled
from one frame each; their tracks must be named, nobody else may be, no track may follow both, and the ID
switches (a person's track changing) are counted. Faces are embedded only when a track needs it."""

from __future__ import annotations

import pytest

pytest.importorskip("av", reason="video needs PyAV: pip install 'facerec[video]'")
pytest.importorskip("trackers", reason="video needs the tracker: pip install 'facerec[video]'")

from facerec.gallery import Gallery  # noqa: E402
from facerec.video import Watcher, open_video  # noqa: E402
from tests.conftest import SHARED  # noqa: E402

CLIP = SHARED / "data" / "video" / "facenet-pytorch-crowd.mp4"
ENROL_FRAME = 60
Box = tuple[int, int, int, int]
#: Each person's face every 5 frames (x1, y1, x2, y2 in the 1920x1080 frame): a detector's boxes, checked by
#: eye on crops of the frames. "Hoodie": the boy in the blue hoodie walking down the middle; "Woman": the
#: white-haired woman on the left, not found after frame 90 (she turns away and leaves the frame).
TRUTH: dict[str, dict[int, Box]] = {
    "Hoodie": {0: (918, 634, 982, 722), 5: (911, 636, 979, 720), 10: (934, 644, 999, 730),
               15: (972, 668, 1038, 751), 20: (986, 656, 1059, 744), 25: (981, 695, 1051, 784),
               30: (979, 683, 1051, 774), 35: (989, 702, 1063, 797), 40: (1005, 718, 1084, 814),
               45: (985, 694, 1066, 795), 50: (943, 712, 1024, 817), 55: (923, 674, 1000, 773),
               60: (912, 686, 999, 797), 65: (912, 672, 997, 778), 70: (883, 654, 969, 767),
               75: (838, 674, 929, 783), 80: (807, 650, 894, 763), 85: (794, 692, 883, 806),
               90: (783, 655, 872, 776), 95: (767, 669, 855, 786), 100: (739, 670, 834, 792)},
    "Woman": {5: (291, 633, 348, 702), 10: (293, 664, 350, 735), 15: (292, 661, 348, 731),
              20: (287, 683, 344, 753), 25: (271, 675, 337, 755), 30: (258, 667, 327, 751),
              35: (245, 688, 317, 774), 40: (235, 670, 305, 757), 45: (226, 686, 297, 773),
              50: (210, 675, 281, 764), 55: (200, 661, 272, 750), 60: (203, 677, 276, 769),
              65: (198, 660, 270, 751), 70: (199, 670, 272, 763), 75: (187, 665, 262, 759),
              80: (190, 652, 268, 747), 85: (204, 677, 281, 775), 90: (217, 666, 284, 758)},
}

pytestmark = pytest.mark.skipif(not CLIP.is_file(), reason=f"the crowd clip is not in {CLIP.parent}")


def _centre_in(box: tuple[float, ...], truth: Box) -> bool:
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return truth[0] <= x <= truth[2] and truth[1] <= y <= truth[3]


@pytest.fixture(scope="module")
def watched(recognizer, tmp_path_factory):
    """Enroll each person from their face in frame ENROL_FRAME (a crop around it, as a user would cut a
    photo out of the footage), then watch the whole clip: each frame's faces (track, box, name in force),
    the tracks, and the Watcher."""
    with open_video(CLIP) as video:
        pixels = next(frame.rgb() for frame in video if frame.index == ENROL_FRAME)
    gallery = Gallery(recognizer, db=tmp_path_factory.mktemp("crowd") / "gallery.db")
    for name, boxes in TRUTH.items():
        x1, y1, x2, y2 = boxes[ENROL_FRAME]
        width, height = x2 - x1, y2 - y1
        gallery.enroll(name, [pixels[max(0, y1 - height): y2 + height, max(0, x1 - width): x2 + width]])
    frames: list[list[tuple[int, tuple[float, ...], str | None]]] = []
    with open_video(CLIP) as video:
        watcher = Watcher(gallery, fps=video.fps)
        tracks = []
        for frame in video:
            tracks += watcher.feed(frame)
            now = [(face["track"], tuple(face["box"]), face["name"]) for face in watcher.faces_now()]
            for track, index in watcher.born.items():  # a new track's first face, in the frame before
                frames[-1][index] = (track, frames[-1][index][1], next(n for t, _, n in now if t == track))
            frames.append(now)
        tracks += watcher.finish()
    return frames, {t.track_id: t for t in tracks}, watcher


def _followed(frames, name: str) -> dict[int, int]:
    """Truth frame -> the track of the face found in the person's box there (frames where none was found are
    left out)."""
    found = {}
    for n, box in TRUTH[name].items():
        tracks = [track for track, face, _ in frames[n] if track >= 0 and _centre_in(face, box)]
        if tracks:
            found[n] = tracks[0]
    return found


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_the_enrolled_are_named_all_along(watched, name):
    frames, tracks, _ = watched
    followed = _followed(frames, name)
    assert len(followed) >= 0.9 * len(TRUTH[name])  # found in (almost) every truth frame
    assert {tracks[track].name for track in followed.values()} == {name}
    assert all(given == name for n in followed for track, face, given in frames[n] if track == followed[n])
    switches = sum(a != b for a, b in zip(list(followed.values()), list(followed.values())[1:]))
    print(f"{name}: {len(set(followed.values()))} track(s), {switches} ID switch(es) over {len(followed)} frames")
    assert switches == 0


def test_nobody_else_is_named_and_no_track_follows_both(watched):
    frames, tracks, _ = watched
    for n, faces in enumerate(frames):
        for track, face, given in faces:
            if given is not None and n in TRUTH[given]:  # a name in force only on its own person
                assert _centre_in(face, TRUTH[given][n]), (n, track, given, face)
    people = {name: set(_followed(frames, name).values()) for name in TRUTH}
    assert not people["Hoodie"] & people["Woman"]
    named = {track for track, result in tracks.items() if result.name is not None}
    assert named == people["Hoodie"] | people["Woman"]  # a named track is one seen in its person's box


def test_faces_are_embedded_only_when_a_track_needs_it(watched):
    """Every face is tracked, but only a new track's, one not checked for a while, or one the tracker may have
    mixed up is aligned and embedded: far fewer than the faces seen."""
    frames, _, watcher = watched
    seen = sum(len(faces) for faces in frames)
    assert len(frames) == watcher.frames == 105 and seen > 3 * len(frames)
    assert 0 < watcher.embedded < seen / 2
