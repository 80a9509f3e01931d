"""``facerec watch``: who appears when in a video file, a folder of frames, a stream or a camera."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click

from facerec.cli.common import CONTEXT, QUIET, THRESHOLD, FiniteFloatRange, json_ready
from facerec.cli.options import GalleryOptions, gallery_options, shown_url

__all__ = ["watch_command"]

#: What ``--out`` writes, by its suffix (facerec.video.annotate.VIDEO_SUFFIXES, not imported: PyAV loads late).
OUT_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi")


def _video_name(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--out`` must name a video file (checked as the options are read, before any work)."""
    if value is not None and Path(value).suffix.lower() not in OUT_SUFFIXES:
        raise click.BadParameter(f"{value!r}: must be a video file name ending in {', '.join(OUT_SUFFIXES)}")
    return value


@click.command("watch", context_settings=CONTEXT)
@click.argument("source")
@gallery_options
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(1, 100),
              help="Candidates to keep per track.")
@click.option("--threshold", type=THRESHOLD, default=None,
              help="A fixed cosine threshold in [-1, 1] (default: the gallery's calibrated decision, as identify).")
@click.option("--every", default=1, show_default=True, type=click.IntRange(1, None),
              help="Look at one frame in every N.")
@click.option("--max-fps", type=FiniteFloatRange(0.01, None), default=None,
              help="Look at most this many frames a second (of video time).")
@click.option("--best-frames", default=3, show_default=True, type=click.IntRange(1, 50),
              help="Identify each track from the mean embedding of its N best-quality frames.")
@click.option("--lost-seconds", default=1.0, show_default=True, type=FiniteFloatRange(0.0, 60.0),
              help="How long a track waits for its face to come back before it ends.")
@click.option("--folder-fps", default=10.0, show_default=True, type=FiniteFloatRange(0.01, 1000.0),
              help="The frame rate of a SOURCE that is a folder of frames.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None, callback=_video_name,
              help="Write the frames looked at, with boxes, track numbers and names, to this video (.mp4, .mkv, "
                   ".mov or .avi; not the input).")
@click.option("--per-frame", "per_frame", type=click.File("w", lazy=True), default=None,
              help="Write, for each frame looked at, each face's box, track and the name in force then, to this "
                   "file as JSON lines ('-': standard output).")
@QUIET
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per track as it ends (JSON lines).")
def watch_command(source: str, options: GalleryOptions, top_k: int, threshold: float | None, every: int,
                  max_fps: float | None, best_frames: int, lost_seconds: float, folder_fps: float,
                  out_path: str | None, per_frame: Any, quiet: bool, as_json: bool) -> None:
    """Say who appears when in SOURCE: a video file, a folder of frames, an RTSP/HTTP URL or a camera index.

    Faces are tracked from frame to frame (ByteTrack); a track ends at a shot cut, and where a face is not
    its track's person (a new track begins). Each track is named from its best frames, the name revised as
    better faces come; a track is reported when it ends: name (or "not recognized"), score, first and last
    time, frames seen, and from which frame the name holds. --per-frame answers every frame looked at.
    Ctrl-C stops, reporting the tracks found so far. A folder's frame that cannot be read is skipped and said
    on stderr. Needs facerec[video].
    """
    from enrollment import NoGalleryError
    from facerec.video.decode import open_video
    from facerec.video.watch import Watcher

    if out_path and _same_file(out_path, source):
        raise click.BadParameter(f"{out_path!r} is the input {source!r}: name another file", param_hint="'--out'")
    options.store.require()  # a missing gallery, then a bad source, are said before any model loads
    video = open_video(source, every=every, max_fps=max_fps, folder_fps=folder_fps,
                       max_pixels=options.recipe().max_pixels, on_skip=_skipped)
    started, tracks, stopped = time.perf_counter(), 0, False
    writer = None
    try:
        gallery = options.open(threshold)
        if gallery.store.count_identities() == 0:
            raise NoGalleryError(f"the gallery at {shown_url(options.store.url)} is empty: enroll someone first")
        watcher = Watcher(gallery, fps=video.fps, top_k=top_k, best_frames=best_frames, lost_seconds=lost_seconds)
        if out_path:
            from facerec.video.annotate import AnnotatedVideo

            writer = AnnotatedVideo(out_path, fps=video.step_fps, width=video.width, height=video.height)
        try:
            for frame in video:
                for result in watcher.feed(frame):
                    _show(result, as_json)
                    tracks += 1
                if per_frame is not None:  # flushed per frame: a stopped run keeps the frames it answered
                    per_frame.write(json.dumps(json_ready({"frame": frame.index, "time": round(frame.time, 3),
                                                        "faces": watcher.faces_now()}), allow_nan=False) + "\n")
                    per_frame.flush()
                if writer is not None:  # the name in force at this frame
                    writer.write(frame.rgb(), [(face.box, f"{i} {watcher.label(i)}" if i >= 0 else "?")
                                               for i, face in watcher.last_faces])
        except KeyboardInterrupt:
            stopped = True
        for result in watcher.finish():
            _show(result, as_json)
            tracks += 1
    finally:
        video.close()
        if writer is not None:
            writer.close()
    if not quiet:
        seconds = time.perf_counter() - started
        click.echo(f"{'stopped (Ctrl-C): ' if stopped else ''}{tracks} track{'s' * (tracks != 1)} in "
                   f"{watcher.frames} frames looked at ({watcher.frames / max(seconds, 1e-9):.1f} frames/s)"
                   + (f"; {len(video.skipped)} frame{'s' * (len(video.skipped) != 1)} skipped" if video.skipped else "")
                   + (f"; wrote {out_path}" if out_path else ""), err=True)


def _same_file(out_path: str, source: str) -> bool:
    """Whether ``--out`` names the input (the same path, or a link to it): writing it would replace the input."""
    out, given = Path(out_path), Path(source)
    try:
        if out.exists() and given.exists():
            return os.path.samefile(out, given)
        return out.resolve() == given.resolve()
    except (OSError, RuntimeError):  # an unreadable path or a link loop: not the input, said when opened
        return False


def _skipped(path: Path, reason: str) -> None:
    from facerec.fileio import shown_path

    click.echo(f"skipped {shown_path(path)}: {reason}", err=True)


def _show(result: Any, as_json: bool) -> None:  # a facerec.video.TrackResult
    if as_json:  # one line per track (JSON lines), flushed as it ends
        click.echo(json.dumps(json_ready(result.to_dict()), allow_nan=False))
        return
    answer = result.name or "not recognized"
    revised = result.named_from_frame > result.first_frame  # a better face changed the decision later on
    click.echo(f"track {result.track_id}: {answer} (score {result.score:.4f}, threshold {result.threshold:.4f}), "
               f"{result.first_time:.2f}-{result.last_time:.2f} s, {result.frames} frames"
               + (f", named from {result.named_from_time:.2f} s" if revised else ""))
