"""Video (issue 30): `facerec watch`, the library's tracks and /v1/watch, on clips made here from LFW photos
(tests/video_clips.py: people entering and leaving, a stranger, the lights out, a pan, a zoom) against the
truth of who is on screen when."""

from __future__ import annotations

import json
import os
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
from facerec.gallery import Gallery  # noqa: E402
from facerec.video import TrackResult, VideoReadError, VideoTooLargeError, open_video, watch  # noqa: E402
from tests.video_clips import ENROLLED, PAN, PEOPLE, ZOOM, Clip, make_clip, photo_path  # noqa: E402

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


@pytest.mark.parametrize("kind", ["missing", "not-a-video", "dead-url", "no-camera", "empty-folder"])
def test_bad_sources_get_one_clear_line(kind, gallery_db, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    source, expected = {
        "missing": (str(tmp_path / "nope.mp4"), "no such file"),
        "not-a-video": (str(text), "not a video"),
        "dead-url": (f"http://127.0.0.1:{_closed_port()}/live.mp4", "the stream does not answer"),
        "no-camera": ("97", "no such camera"),
        "empty-folder": (str(tmp_path), "holds no frames"),
    }[kind]
    if kind == "empty-folder":
        text.unlink()
    result = CliRunner().invoke(main, ["watch", source, "--db", str(gallery_db)])
    assert result.exit_code == 1
    assert "cannot read video" in result.output and expected in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    with pytest.raises(VideoReadError, match=expected):
        open_video(source)


def test_a_clip_over_the_limits_is_refused(clips):
    data = clips["pan"].path.read_bytes()
    with pytest.raises(VideoTooLargeError, match="over the 2 s limit"):
        open_video(data, max_seconds=2)
    with pytest.raises(VideoTooLargeError, match="over 100,000 pixels"):
        open_video(data, max_pixels=100_000)


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

    def interrupted(seen):
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
