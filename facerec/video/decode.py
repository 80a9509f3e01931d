"""Frames from a video file, a folder of frames, a stream URL or a camera, decoded by PyAV (FFmpeg).

:func:`open_video` opens any of them and says clearly what is wrong with a bad one (a missing file, a file
that is not a video, a URL that does not answer, a camera that is not there) as a :class:`VideoReadError`.
A :class:`VideoReader` yields :class:`Frame` objects, each converted to RGB only when asked for, and only at
the size asked for (a detector's smaller copy comes straight from FFmpeg's scaler, not from a resize of the
full frame). ``every`` and ``max_fps`` bound the work: the frames they leave out are never converted.

>>> with open_video("clip.mp4", max_fps=10) as video:  # doctest: +SKIP
...     for frame in video:
...         frame.rgb().shape
(720, 1280, 3)
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from facerec.errors import FaceRecError, ImageReadError, ImageTooLargeError
from facerec.io import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, load_image

__all__ = ["Frame", "VideoReader", "VideoReadError", "VideoTooLargeError", "VideoSource", "open_video",
           "describe_source", "require_av"]

#: What :func:`open_video` takes: a path (file or folder of frames), a URL, a camera index, or a clip's bytes.
VideoSource = str | Path | int | bytes
#: URL schemes opened as network streams.
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt")
#: Seconds a stream may take to connect, and to deliver the next packet, before it counts as dead.
STREAM_TIMEOUT_S = 10.0
#: The frame rate a folder of frames is played at unless told otherwise.
FOLDER_FPS = 10.0


class VideoReadError(ImageReadError):
    """A video source cannot be read: missing, not a video, a dead stream, an absent camera."""

    def __init__(self, source: str | Path, reason: str) -> None:
        self.source, self.reason = str(source), reason
        FaceRecError.__init__(self, f"cannot read video {self.source}: {reason}")


class VideoTooLargeError(ImageTooLargeError):
    """A clip is longer, or its frames larger, than the limit (the service's upload bound)."""

    def __init__(self, source: str | Path, reason: str) -> None:
        self.source, self.reason = str(source), reason
        FaceRecError.__init__(self, f"video {self.source} is too large: {reason}")


def require_av() -> Any:
    """The ``av`` module (PyAV), or a clear error naming the extra that installs it."""
    try:
        import av
    except ImportError:  # pragma: no cover - the video extra is installed wherever video is used
        raise FaceRecError("video needs PyAV and the tracker: pip install 'facerec[video]'") from None
    return av


@dataclass
class Frame:
    """One frame: its position among the source's frames, its time in seconds from the first, and its pixels
    (RGB, converted on demand: :meth:`rgb`)."""

    index: int
    time: float
    width: int
    height: int
    _av_frame: Any = field(default=None, repr=False)
    _path: Path | None = field(default=None, repr=False)
    _cache: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def rgb(self, max_side: int | None = None) -> np.ndarray:
        """The frame as ``H x W x 3`` uint8 RGB; with ``max_side``, scaled down so its longest side is at
        most that (never up)."""
        longest = max(self.width, self.height)
        key = 0 if max_side is None or max_side >= longest else max_side
        if key not in self._cache:
            self._cache[key] = self._convert(key)
        return self._cache[key]

    def scale(self, max_side: int | None) -> float:
        """The factor :meth:`rgb` with ``max_side`` scales by (1.0: full size)."""
        longest = max(self.width, self.height)
        return 1.0 if max_side is None or max_side >= longest else max_side / longest

    def _convert(self, max_side: int) -> np.ndarray:
        width, height = self.width, self.height
        if max_side:
            factor = max_side / max(width, height)
            width, height = max(2, round(width * factor)), max(2, round(height * factor))
        if self._av_frame is not None:
            if max_side:
                return self._av_frame.reformat(width=width, height=height, format="rgb24",
                                               interpolation="BILINEAR").to_ndarray()
            return self._av_frame.to_ndarray(format="rgb24")
        if 0 not in self._cache:
            self._cache[0] = load_image(self._path)  # type: ignore[arg-type]
        full = self._cache[0]
        if not max_side:
            return full
        return np.asarray(Image.fromarray(full).resize((width, height), Image.Resampling.BILINEAR))


class VideoReader:
    """The frames of one source, as :func:`open_video` opened it; iterate it once. ``fps`` is the source's
    frame rate, ``width`` and ``height`` its frame size, ``duration`` its length in seconds (None: a live
    stream, or not known)."""

    def __init__(self, name: str, *, container: Any = None, paths: list[Path] | None = None, fps: float,
                 width: int, height: int, duration: float | None, every: int = 1, max_fps: float | None = None,
                 max_seconds: float | None = None) -> None:
        if every < 1:
            raise ValueError("every must be at least 1")
        if max_fps is not None and not max_fps > 0:
            raise ValueError("max_fps must be positive")
        self.name, self.fps, self.width, self.height, self.duration = name, fps, width, height, duration
        self.every, self.max_fps, self.max_seconds = every, max_fps, max_seconds
        self.decoded = 0  # frames decoded so far, kept or not
        self._container, self._paths = container, paths

    @property
    def step_fps(self) -> float:
        """The rate of the frames it yields (at most the source's, after ``every`` and ``max_fps``)."""
        rate = self.fps / self.every
        return min(rate, self.max_fps) if self.max_fps else rate

    def __iter__(self) -> Iterator[Frame]:
        next_time = 0.0
        for frame in self._frames():
            self.decoded += 1
            if self.max_seconds is not None and frame.time > self.max_seconds:
                raise VideoTooLargeError(self.name, f"longer than {self.max_seconds:g} s")
            if frame.index % self.every:
                continue
            if self.max_fps:
                if frame.time + 1e-6 < next_time:
                    continue
                next_time = max(next_time + 1.0 / self.max_fps, frame.time)
            yield frame

    def _frames(self) -> Iterator[Frame]:
        if self._paths is not None:
            for index, path in enumerate(self._paths):
                with Image.open(path) as image:
                    width, height = image.size
                yield Frame(index, index / self.fps, width, height, _path=path)
            return
        av = require_av()
        stream = self._container.streams.video[0]
        start: float | None = None
        index = 0
        try:
            for decoded in self._container.decode(stream):
                seconds = decoded.time if decoded.time is not None else index / self.fps
                start = seconds if start is None else start
                yield Frame(index, max(0.0, seconds - start), decoded.width, decoded.height, _av_frame=decoded)
                index += 1
        except (av.error.FFmpegError, OSError) as exc:
            raise VideoReadError(self.name, f"decoding stopped after {index} frames ({_reason(exc)})") from None

    def close(self) -> None:
        if self._container is not None:
            self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def describe_source(source: VideoSource) -> str:
    """How messages name ``source``: its path or URL, ``camera N``, or ``<N bytes>``."""
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    if _is_camera(source):
        return f"camera {int(source)}"  # type: ignore[arg-type]
    return str(source)


def open_video(source: VideoSource, *, every: int = 1, max_fps: float | None = None, folder_fps: float = FOLDER_FPS,
               max_seconds: float | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
               name: str | None = None) -> VideoReader:
    """Open a video file, a folder of frames (played at ``folder_fps``, in name order), a stream URL
    (``rtsp://``, ``http://``...), a camera (its index: ``0`` is ``/dev/video0``) or a clip's bytes.

    ``every`` keeps one frame in that many, ``max_fps`` at most that many a second; ``max_seconds`` and
    ``max_pixels`` refuse a longer clip or larger frames (:class:`VideoTooLargeError`). A source that cannot
    be read raises :class:`VideoReadError`, saying why."""
    name = name or describe_source(source)
    options = {"every": every, "max_fps": max_fps, "max_seconds": max_seconds}
    if isinstance(source, (str, Path)) and not _is_url(str(source)) and not _is_camera(source):
        path = Path(source)
        if path.is_dir():
            return _open_folder(path, name, folder_fps, max_pixels, options)
        if not path.exists():
            raise VideoReadError(name, "no such file or folder")
        if path.stat().st_size == 0:
            raise VideoReadError(name, "the file is empty")
    av = require_av()
    target, kwargs = _target(source, name)
    try:
        container = av.open(target, mode="r", **kwargs)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoReadError(name, _open_reason(source, exc)) from None
    try:
        if not container.streams.video:
            raise VideoReadError(name, "it has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # FFmpeg decodes with frame threads
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > max_pixels:
            raise VideoTooLargeError(name, f"{width}x{height} frames are over {max_pixels:,} pixels")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 25.0
        duration = _duration(container, stream)
        if max_seconds is not None and duration is not None and duration > max_seconds + 0.5:
            raise VideoTooLargeError(name, f"{duration:.1f} s, over the {max_seconds:g} s limit")
        return VideoReader(name, container=container, fps=fps, width=width, height=height, duration=duration,
                           **options)  # type: ignore[arg-type]
    except BaseException:
        container.close()
        raise


def _open_folder(path: Path, name: str, fps: float, max_pixels: int, options: dict[str, Any]) -> VideoReader:
    if not fps > 0:
        raise ValueError("folder_fps must be positive")
    paths = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise VideoReadError(name, f"the folder holds no frames (images: {', '.join(sorted(IMAGE_SUFFIXES))})")
    try:
        with Image.open(paths[0]) as first:
            width, height = first.size
    except OSError as exc:
        raise VideoReadError(name, f"its first frame {paths[0].name} is not an image ({exc})") from None
    if width * height > max_pixels:
        raise VideoTooLargeError(name, f"{width}x{height} frames are over {max_pixels:,} pixels")
    return VideoReader(name, paths=paths, fps=fps, width=width, height=height, duration=len(paths) / fps,
                       **options)


def _is_camera(source: VideoSource) -> bool:
    """An index (``0``: ``/dev/video0``), unless a file of that name is there."""
    if isinstance(source, int):
        return True
    return isinstance(source, str) and source.isdigit() and not Path(source).exists()


def _is_url(text: str) -> bool:
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", text)
    return bool(match) and match.group(1).lower() in STREAM_SCHEMES  # type: ignore[union-attr]


def _target(source: VideoSource, name: str) -> tuple[Any, dict[str, Any]]:
    """What ``av.open`` is given for ``source``, and how."""
    if isinstance(source, bytes):
        return io.BytesIO(source), {}
    if _is_camera(source):
        device = Path(f"/dev/video{int(source)}")  # type: ignore[arg-type]
        if not device.exists():
            raise VideoReadError(name, f"no such camera ({device} does not exist)")
        return str(device), {"format": "v4l2"}
    text = str(source)
    if _is_url(text):
        options = {"rtsp_transport": "tcp"} if text.lower().startswith("rtsp") else {}
        return text, {"options": options, "timeout": (STREAM_TIMEOUT_S, STREAM_TIMEOUT_S)}
    return text, {}


def _open_reason(source: VideoSource, exc: BaseException) -> str:
    if isinstance(source, (str, Path)) and _is_url(str(source)):
        return f"the stream does not answer ({_reason(exc)})"
    if _is_camera(source):
        return f"the camera cannot be opened ({_reason(exc)})"
    return f"not a video, or a format FFmpeg cannot read ({_reason(exc)})"


def _reason(exc: BaseException) -> str:
    """An FFmpeg error in words, without the file name it repeats."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(": '")[0].strip() or type(exc).__name__


def _duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # in AV_TIME_BASE units
    return None
