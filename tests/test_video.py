"""Video (issue 30): `facerec watch`, the library's tracks and /v1/watch, on clips made here from LFW photos
(scripts/video_clips.py: people entering and leaving, a stranger, the lights out, a pan, a zoom) against the
truth of who is on screen when."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("av", reason="video needs PyAV: pip install 'facerec[video]'")
pytest.importorskip("trackers", reason="video needs the tracker: pip install 'facerec[video]'")

from facerec.cli import main  # noqa: E402
from facerec.errors import FaceRecError  # noqa: E402
from facerec.gallery import Gallery  # noqa: E402
from facerec.video import TrackResult, VideoReadError, VideoTooLargeError, open_video, watch  # noqa: E402
from scripts.video_clips import (  # noqa: E402
    ENROLLED,
    PAN,
    PEOPLE,
    ZOOM,
    Clip,
    make_clip,
    make_cut_clip,
    photo_path,
    resized_clip,
)

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 2  # frames: a track's first and last frame against the truth's


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Clip]:
    folder = tmp_path_factory.mktemp("clips")
    return {scene.name: make_clip(scene, folder) for scene in (PEOPLE, PAN, ZOOM)}


@pytest.fixture(scope="session")
def gallery_db(tmp_path_factory, recognizer) -> Path:
    """A gallery of the clips' people (not the stranger), each from two photos the clips do not use."""
    db = tmp_path_factory.mktemp("video-gallery") / "gallery.db"
    gallery = Gallery(recognizer, db=db)
    for name in ENROLLED:
        gallery.enroll(name, [photo_path(name, 1), photo_path(name, 2)])
    gallery.close()
    return db


@pytest.fixture(scope="session")
def gallery(gallery_db, recognizer) -> Gallery:
    return Gallery(recognizer, db=gallery_db)


def _matched(tracks: list[TrackResult], clip: Clip) -> dict[tuple[str, int, int], TrackResult]:
    """Each truth segment's track: whose face, in its best frame, is inside that person's box there."""
    found: dict[tuple[str, int, int], TrackResult] = {}
    for track in tracks:
        x1, y1, x2, y2 = track.identification.face.box
        centre = ((x1 + x2) / 2, (y1 + y2) / 2)
        [who] = [name for name, (a, b, c, d) in clip.truth[track.best_frame]
                 if a <= centre[0] <= c and b <= centre[1] <= d]
        [segment] = [s for s in clip.segments() if s[0] == who and s[1] <= track.best_frame <= s[2]]
        assert segment not in found, f"two tracks for {segment}: an ID switch"
        found[segment] = track
    assert len(found) == len(clip.segments()), f"no track for {set(clip.segments()) - set(found)}"
    return found


@pytest.mark.parametrize("scene", ["people", "pan", "zoom"])
def test_every_track_is_the_right_person_at_the_right_time(clips, gallery, scene):
    clip = clips[scene]
    tracks = list(watch(gallery, clip.path))
    matched = _matched(tracks, clip)
    # one track per stretch on screen: no person split in two (no ID switch on the pan or the zoom), none extra
    assert len(tracks) == len(clip.segments()) and len({t.track_id for t in matched.values()}) == len(tracks)
    for (name, first, last), track in matched.items():
        expected = name if name in ENROLLED else None  # the stranger: not recognized
        assert track.name == expected, (name, track.to_dict()["candidates"])
        assert abs(track.first_frame - first) <= TOLERANCE and abs(track.last_frame - last) <= TOLERANCE, \
            (name, first, last, track.first_frame, track.last_frame)
        assert track.first_time == pytest.approx(track.first_frame / clip.fps, abs=1e-3)
        assert 1 <= track.embedded <= 3 < track.frames  # identified from its best frames, not from all


def test_the_lights_out_end_the_tracks_and_new_ones_start_after(clips):
    segments = clips["people"].segments()
    assert [s for s in segments if s[0] == "Tony_Blair"] == [("Tony_Blair", 10, 39), ("Tony_Blair", 55, 69)]


def test_every_and_max_fps_look_at_fewer_frames(clips, gallery):
    clip = clips["pan"]
    with open_video(clip.path, every=4) as video:
        assert [f.index for f in video] == list(range(0, 40, 4))
    with open_video(clip.path, max_fps=2.5) as video:
        assert [f.index for f in video] == list(range(0, 40, 4)) and video.decoded == 40
    tracks = list(watch(gallery, clip.path, every=2))
    assert sorted(t.name for t in tracks) == ["Andre_Agassi", "Hugo_Chavez"]
    assert all(t.frames == 20 for t in tracks)


def test_a_folder_of_frames_is_a_video(clips, gallery, tmp_path):
    with open_video(clips["zoom"].path) as video:
        for frame in video:
            from PIL import Image

            Image.fromarray(frame.rgb()).save(tmp_path / f"{frame.index:04d}.png")
    tracks = list(watch(gallery, tmp_path, folder_fps=10))
    assert sorted((t.name, t.first_frame, t.last_frame) for t in tracks) == \
        [("Jacques_Chirac", 0, 39), ("Tony_Blair", 0, 39)]
    assert max(t.last_time for t in tracks) == pytest.approx(3.9)


def test_cli_json_lines_and_an_annotated_video(clips, gallery_db, tmp_path):
    out = tmp_path / "annotated.mp4"
    result = CliRunner().invoke(main, ["watch", str(clips["people"].path), "--db", str(gallery_db), "--json",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(clips["people"].segments())
    assert sorted(line["name"] or "-" for line in lines) == \
        ["-", "-", "Colin_Powell", "Megawati_Sukarnoputri", "Tony_Blair", "Tony_Blair"]
    assert all(line["frames"] >= 10 and line["last_time"] > line["first_time"] for line in lines)
    with open_video(out) as video:
        frames = list(video)
        assert len(frames) == 80 and (video.width, video.height) == (480, 270)
        # the boxes are drawn: frame 62 differs from the clip's own frame 62 around the faces
        with open_video(clips["people"].path) as clean:
            original = [f for f in clean if f.index == 62][0].rgb().astype(int)
        assert np.abs(frames[62].rgb().astype(int) - original).max() > 100


def test_cli_text_output(clips, gallery_db):
    result = CliRunner().invoke(main, ["watch", str(clips["zoom"].path), "--db", str(gallery_db)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("track ") and "0.00-3.90 s, 40 frames" in line for line in lines)
    assert "2 tracks in 40 frames looked at" in result.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when this returns: nothing listens there


@pytest.mark.parametrize("kind", ["missing", "not-a-video", "dead-url", "no-camera", "empty-folder", "dev-zero",
                                  "dev-urandom", "fifo"])
def test_bad_sources_get_one_clear_line(kind, gallery_db, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    fifo = tmp_path / "pipe.mp4"
    source, expected = {
        "missing": (str(tmp_path / "nope.mp4"), "no such file"),
        "not-a-video": (str(text), "not a video"),
        "dead-url": (f"http://127.0.0.1:{_closed_port()}/live.mp4", "the stream does not answer"),
        "no-camera": ("97", "no such camera"),
        "empty-folder": (str(tmp_path), "holds no frames"),
        # never "the file is empty": a device or a pipe is not a video file (and reading one would not end)
        "dev-zero": ("/dev/zero", "not a regular file (a character device)"),
        "dev-urandom": ("/dev/urandom", "not a regular file (a character device)"),
        "fifo": (str(fifo), "not a regular file (a named pipe)"),
    }[kind]
    if kind == "empty-folder":
        text.unlink()
    if kind == "fifo":
        os.mkfifo(fifo)
    result = CliRunner().invoke(main, ["watch", source, "--db", str(gallery_db)])
    assert result.exit_code == 1
    assert "cannot read video" in result.output and expected in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    with pytest.raises(VideoReadError, match=re.escape(expected)):
        open_video(source)


def test_a_clip_over_the_limits_is_refused(clips):
    data = clips["pan"].path.read_bytes()
    with pytest.raises(VideoTooLargeError, match="over the 2 s limit"):
        open_video(data, max_seconds=2)
    with pytest.raises(VideoTooLargeError, match="over 100,000 pixels"):
        open_video(data, max_pixels=100_000)


@pytest.fixture(scope="session")
def lying_clips(tmp_path_factory) -> dict[str, Path]:
    """Clips whose header says 320x240 but whose later frames are larger (issue 34): MJPEG frames of 8000x8000
    (64 Mpixels, over the 50 Mpixel default and the service's 25), MPEG-4 frames of 1280x960 and of 384x272."""
    folder = tmp_path_factory.mktemp("lying")
    return {"mjpeg": resized_clip(folder / "mjpeg.mkv", codec="mjpeg", size=(8000, 8000)),
            "mpeg4": resized_clip(folder / "mpeg4.mkv", codec="mpeg4", size=(1280, 960)),
            "mpeg4-near": resized_clip(folder / "mpeg4-near.mkv", codec="mpeg4", size=(384, 272))}


def test_each_frame_is_held_to_the_pixel_limit(lying_clips):
    """Not only the header's size: a larger frame is refused, an MJPEG one from its JPEG header before it is
    decoded, another codec's by the decoder itself (FFmpeg's max_pixels) or, just over, once decoded."""
    with open_video(lying_clips["mjpeg"]) as video:
        assert (video.width, video.height) == (320, 240)
        seen = []
        with pytest.raises(VideoTooLargeError, match="frame 2 is 8000x8000, over 50,000,000 pixels"):
            for frame in video:
                seen.append(frame.index)
        assert seen == [0, 1] and video.decoded == 2  # the large frame was never decoded
    with open_video(lying_clips["mpeg4"], max_pixels=100_000) as video:  # the decoder's refusal
        seen = []
        with pytest.raises(FaceRecError, match="a broken frame, or one over 100,000 pixels"):
            for frame in video:
                seen.append((frame.width, frame.height))
        assert (1280, 960) not in seen
    with open_video(lying_clips["mpeg4-near"], max_pixels=100_000) as video:  # just over: checked once decoded
        with pytest.raises(VideoTooLargeError, match="frame 2 is 384x272, over 100,000 pixels"):
            [frame.rgb() for frame in video]
        assert video.decoded == 2
    with open_video(lying_clips["mpeg4"]) as video:  # under the limit, frames of another size are fine
        assert [(f.width, f.height) for f in video] == [(320, 240)] * 2 + [(1280, 960)] * 2


def test_an_annotated_video_scales_a_frame_of_another_size(tmp_path):
    """A clip's frames may change size within the limit: --out scales each to the first's, not a corner of it."""
    from facerec.video.annotate import AnnotatedVideo

    large = np.zeros((480, 640, 3), np.uint8)
    large[240:, 320:] = 255  # the bottom-right quarter white
    with AnnotatedVideo(tmp_path / "out.mkv", fps=10, width=320, height=240) as out:
        out.write(large)
        out.write(np.zeros((120, 160, 3), np.uint8))
    with open_video(tmp_path / "out.mkv") as video:
        frames = [frame.rgb() for frame in video]
    assert [f.shape for f in frames] == [(240, 320, 3)] * 2
    assert frames[0][200:, 280:].mean() > 200 and frames[0][:100, :100].mean() < 50


def test_a_folder_frame_over_the_pixel_limit_is_refused(tmp_path):
    from PIL import Image

    Image.new("RGB", (100, 100), (90, 90, 90)).save(tmp_path / "0001.png")
    Image.new("RGB", (400, 400), (90, 90, 90)).save(tmp_path / "0002.png")
    with open_video(tmp_path, max_pixels=20_000) as video:
        with pytest.raises(VideoTooLargeError, match="frame 1 is 400x400, over 20,000 pixels"):
            [frame.rgb() for frame in video]


def test_cli_refuses_a_clip_with_frames_over_the_limit(lying_clips, gallery_db):
    result = CliRunner().invoke(main, ["watch", str(lying_clips["mjpeg"]), "--db", str(gallery_db)])
    assert result.exit_code == 1, result.output
    assert "too large: frame 2 is 8000x8000, over 50,000,000 pixels" in result.stderr
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output


def test_the_http_api_refuses_a_clip_with_frames_over_the_limit(lying_clips, recognizer, tmp_path):
    from tests.serve_helpers import running_server

    with running_server(recognizer, tmp_path) as server:
        server.gallery.enroll("Andre_Agassi", [photo_path("Andre_Agassi", 1)])
        with server.client("read") as client:
            data = lying_clips["mjpeg"].read_bytes()
            answer = client.post("/v1/watch", files={"video": ("big.mkv", data, "video/x-matroska")})
            assert answer.status_code == 413, answer.text
            assert answer.json()["error"] == "VideoTooLargeError"
            assert "frame 2 is 8000x8000, over 25,000,000 pixels" in answer.json()["detail"]


def test_cli_skips_and_reports_an_unreadable_frame_of_a_folder(clips, gallery_db, tmp_path):
    """As enroll --from-dir skips a bad photo: one line on stderr per bad frame, the others watched."""
    with open_video(clips["zoom"].path, every=2) as video:
        from PIL import Image

        for frame in video:
            Image.fromarray(frame.rgb()).save(tmp_path / f"{frame.index:04d}.jpg")
    (tmp_path / "0010.jpg").write_bytes(b"not an image at all")
    (tmp_path / "0020.jpg").write_bytes((tmp_path / "0020.jpg").read_bytes()[:300])  # truncated
    result = CliRunner().invoke(main, ["watch", str(tmp_path), "--db", str(gallery_db), "--folder-fps", "5"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 2 and "0010.jpg" in skipped[0] and "0020.jpg" in skipped[1], result.stderr
    assert sorted(line.split(":")[1].split(" (")[0].strip() for line in result.stdout.splitlines()) == \
        ["Jacques_Chirac", "Tony_Blair"]
    assert "2 tracks in 18 frames looked at" in result.stderr and "2 frames skipped" in result.stderr


@pytest.mark.parametrize("out", ["g.db", "notes.txt", "noext"])
def test_cli_out_must_be_a_video_file_name(out, clips, gallery_db, tmp_path):
    target = tmp_path / out
    result = CliRunner().invoke(main, ["watch", str(tmp_path / "missing.mp4"), "--db", str(gallery_db),
                                       "--out", str(target)])
    assert result.exit_code == 2, result.output  # a usage error, said before the source is even looked at
    assert "must be a video file name" in result.output and ".mp4" in result.output, result.output
    assert "cannot read video" not in result.output and not target.exists()


@pytest.mark.parametrize("how", ["same", "symlink", "other-spelling"])
def test_cli_out_cannot_be_the_input(how, clips, gallery_db, tmp_path):
    source = tmp_path / "in.mp4"
    source.write_bytes(clips["zoom"].path.read_bytes())
    before = source.read_bytes()
    out = {"same": source, "symlink": tmp_path / "link.mp4",
           "other-spelling": tmp_path / "sub" / ".." / "in.mp4"}[how]
    (tmp_path / "sub").mkdir()
    if how == "symlink":
        out.symlink_to(source)
    result = CliRunner().invoke(main, ["watch", str(source), "--db", str(gallery_db), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "is the input" in result.output and "Traceback" not in result.output
    assert source.read_bytes() == before and not list(tmp_path.glob("*.tmp"))


def test_duplicate_timestamps_do_not_warn():
    """A clip whose frames share a time (CI saw trackers' "duplicate timestamp" UserWarning on the terminal)."""
    import warnings

    from facerec.detection import Face
    from facerec.video.track import FaceTracker

    face = Face(box=(10.0, 10.0, 60.0, 70.0), score=0.9, landmarks=((20.0, 30.0),) * 5)
    tracker = FaceTracker(fps=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ids = [tracker.update([face], time).ids[0] for time in (0.0, 0.1, 0.1, 0.2, 0.15, 0.3)]
    assert ids[0] == -1 and len(set(ids[1:])) == 1 and ids[1] >= 0  # one track throughout, never dropped


def test_ctrl_c_reports_what_was_found_so_far(clips, gallery_db, tmp_path):
    """A long folder of frames (the people clip, ten times over); SIGINT once the first track is out."""
    folder = tmp_path / "long"
    folder.mkdir()
    with open_video(clips["people"].path) as video:
        frames = [f.rgb() for f in video]
    from PIL import Image

    for n, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"f{n:03d}.jpg")
    for loop in range(1, 10):
        for n in range(len(frames)):
            os.symlink(folder / f"f{n:03d}.jpg", folder / f"f{loop * 100 + n:04d}.jpg")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FACEREC_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "facerec", "watch", str(folder), "--db", str(gallery_db),
                                "--json"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = process.stdout.readline()  # type: ignore[union-attr]
    assert json.loads(first)["name"] == "Colin_Powell"
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    rest, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    assert "stopped (Ctrl-C)" in errors and "Traceback" not in errors
    lines = [json.loads(line) for line in [first, *rest.splitlines()]]
    assert len(lines) >= 2 and len({line["track"] for line in lines}) == len(lines)
    assert max(line["last_frame"] for line in lines) < 1000  # it stopped before the end


def test_an_interrupted_first_embedding_leaves_no_empty_track(clips, gallery, monkeypatch):
    """Ctrl-C while a new track's first face is embedded (CI saw it): no track is left without a face for
    finish() to decide on, and the tracks go on from the next frame."""
    from facerec.video.watch import Watcher

    with open_video(clips["pan"].path) as video:
        frames = list(video)
        watcher = Watcher(gallery, fps=video.fps)

    def interrupted(faces):
        if faces:
            raise KeyboardInterrupt

    monkeypatch.setattr(watcher, "_embed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        for n, frame in enumerate(frames):  # noqa: B007 (n is where it stopped)
            watcher.feed(frame)
    assert watcher._open == {} and watcher.finish() == []
    monkeypatch.undo()
    results = [r for frame in frames[n + 1:] for r in watcher.feed(frame)] + watcher.finish()
    assert sorted(r.name for r in results) == ["Andre_Agassi", "Hugo_Chavez"]


def test_the_http_api_watches_an_uploaded_clip(clips, recognizer, tmp_path):
    from tests.serve_helpers import running_server

    with running_server(recognizer, tmp_path) as server:
        for name in ("Andre_Agassi", "Hugo_Chavez"):
            server.gallery.enroll(name, [photo_path(name, 1), photo_path(name, 2)])
        with server.client("read") as client:
            data = clips["pan"].path.read_bytes()
            answer = client.post("/v1/watch", data={"max_fps": "5"}, files={"video": ("pan.mp4", data, "video/mp4")})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["video"]["frames"] == 40 and body["video"]["frames_looked_at"] == 20
            assert sorted(t["name"] for t in body["tracks"]) == ["Andre_Agassi", "Hugo_Chavez"]
            assert all(t["first_time"] == 0.0 and t["last_time"] == pytest.approx(3.8) for t in body["tracks"])
            bad = client.post("/v1/watch", files={"video": ("notes.mp4", b"not a video" * 100, "video/mp4")})
            assert bad.status_code == 400 and bad.json()["error"] == "VideoReadError"
            assert "cannot read video upload 'notes.mp4'" in bad.json()["detail"]
        with server.client(None) as anonymous:
            refused = anonymous.post("/v1/watch", files={"video": ("pan.mp4", data, "video/mp4")})
            assert refused.status_code == 401


# Issue 37: no name crosses a shot cut; a face that is not its track's person splits the track.
CUT = 15  # the first frame after the cut in scripts/video_clips.make_cut_clip


@pytest.fixture(scope="session")
def cut_folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cuts")


def _spans_the_cut(track: TrackResult) -> bool:
    return track.first_frame < CUT <= track.last_frame


@pytest.mark.parametrize("new_shot", [True, False], ids=["new-shot", "same-backdrop"])
def test_no_name_crosses_a_cut_to_another_person(cut_folder, gallery, new_shot):
    """The performer (enrolled), then a stranger (Bill_Gates, not enrolled) at the same place after a hard
    cut: the performer's track ends at the cut, and nothing after it carries the performer's name."""
    from facerec.video.watch import Watcher

    clip = make_cut_clip(cut_folder, ("Colin_Powell", 5), ("Bill_Gates", 5), new_shot=new_shot)
    named: dict[int, set[str | None]] = {}  # frame -> the names in force on its faces
    with open_video(clip.path) as video:
        watcher = Watcher(gallery, fps=video.fps)
        tracks = []
        for frame in video:
            tracks += watcher.feed(frame)
            named[frame.index] = {face["name"] for face in watcher.faces_now() if face["tracked"]}
        tracks += watcher.finish()
    assert not [t.to_dict() for t in tracks if _spans_the_cut(t)]
    assert [t.name for t in tracks if t.last_frame < CUT] == ["Colin_Powell"]
    assert [t.name for t in tracks if t.first_frame >= CUT] == [None]
    assert all("Colin_Powell" not in names for frame, names in named.items() if frame >= CUT)
    if new_shot:
        assert watcher.cuts is not None and watcher.cuts.cuts == [CUT]


def test_the_same_person_after_a_cut_is_a_new_track_with_the_same_name(cut_folder, gallery):
    clip = make_cut_clip(cut_folder, ("Tony_Blair", 5), ("Tony_Blair", 7))
    tracks = list(watch(gallery, clip.path))
    assert sorted((t.first_frame, t.last_frame, t.name) for t in tracks) == \
        [(0, CUT - 1, "Tony_Blair"), (CUT, 29, "Tony_Blair")]


def test_a_face_that_is_not_the_tracks_person_splits_the_track(cut_folder, gallery):
    """Without the cut detector, the identity check alone ends the track where the face changes."""
    from facerec.video.watch import Watcher

    clip = make_cut_clip(cut_folder, ("Colin_Powell", 5), ("Bill_Gates", 5), new_shot=False)
    with open_video(clip.path) as video:
        watcher = Watcher(gallery, fps=video.fps, cuts=False)
        tracks = [t for frame in video for t in watcher.feed(frame)] + watcher.finish()
    assert watcher.splits == 1 and not [t for t in tracks if _spans_the_cut(t)]
    assert sorted((t.first_frame, t.name or "-") for t in tracks) == [(0, "Colin_Powell"), (CUT, "-")]


def test_the_track_bound_is_measured_for_the_model(recognizer):
    """The bound comes from the model's calibration record (same-person pairs), not from a number in code."""
    from facerec.video.identity import track_bound

    bound = track_bound(recognizer.weights)
    assert "same-person pairs" in bound.source, bound.source
    assert -1 < bound.bound < recognizer.weights.threshold  # looser than 1:1 verification: a face of its own person


def test_cli_per_frame_answers_every_frame_with_the_name_in_force(cut_folder, gallery_db, tmp_path):
    clip = make_cut_clip(cut_folder, ("Colin_Powell", 5), ("Bill_Gates", 5))
    lines_path, out = tmp_path / "frames.jsonl", tmp_path / "annotated.mp4"
    result = CliRunner().invoke(main, ["watch", str(clip.path), "--db", str(gallery_db), "--per-frame",
                                       str(lines_path), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    frames = [json.loads(line) for line in lines_path.read_text().splitlines()]
    assert [f["frame"] for f in frames] == list(range(30))
    assert all(len(f["faces"]) == 1 and len(f["faces"][0]["box"]) == 4 for f in frames)
    names = [f["faces"][0]["name"] for f in frames]
    assert "Colin_Powell" in names[:CUT] and "Colin_Powell" not in names[CUT:]
    tracks = {f["faces"][0]["track"] for f in frames[:CUT]} & {f["faces"][0]["track"] for f in frames[CUT:]}
    assert tracks <= {-1}  # no track on both sides of the cut
    ended = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((t["first_frame"], t["name"] or "-") for t in ended) == [(0, "Colin_Powell"), (CUT, "-")]
    assert all(t["first_frame"] <= t["named_from_frame"] <= t["last_frame"] for t in ended)
