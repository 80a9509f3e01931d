"""Frames from a video file, a folder of frames, a stream URL or a camera, decoded by PyAV (FFmpeg).

:func:`open_video` opens any of them and says clearly what is wrong with a bad one (a missing file, a file
that is not a video, a URL that does not answer, a camera that is not there) as a :class:`VideoReadError`.
A :class:`VideoReader` yields :class:`Frame` objects, each converted to RGB only when asked for, and only at
the size asked for (a detector's smaller copy comes straight from FFmpeg's scaler, not from a resize of the
full frame). ``every`` and ``max_fps`` bound the work: the frames they leave out are never converted.
Every frame is held to the pixel limit, not only the size the header declares: a JPEG or PNG frame by its own
header before it is decoded, any other by FFmpeg's decoder (its ``max_pixels``), which refuses to allocate a
larger picture. A folder's unreadable frames are skipped, and reported (``on_skip``, :attr:`VideoReader.skipped`).

>>> with open_video("clip.mp4", max_fps=10) as video:  # doctest: +SKIP
...     for frame in video:
...         frame.rgb().shape
(720, 1280, 3)
"""

from __future__ import annotations

import io
import re
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from facerec.errors import FaceRecError, ImageReadError, ImageTooLargeError
from facerec.fileio import checked, shown_path
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
#: Codecs whose packets are whole JPEG or PNG pictures: their size is read from the packet before decoding.
JPEG_CODECS = frozenset({"mjpeg", "jpegls", "ljpeg"})
PNG_CODECS = frozenset({"png", "apng"})
#: Pixels over the limit (and an eighth of it) that FFmpeg's decoder may allocate for a frame's padding.
DECODER_MARGIN = 1 << 20
#: Called with each frame of a folder that is skipped, and why (:attr:`VideoReader.skipped`).
OnSkip = Callable[[Path, str], None]


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
    frame rate, ``width`` and ``height`` its frame size (as its header says: a frame of another size within
    ``max_pixels`` is taken as it is), ``duration`` its length in seconds (None: a live stream, or not known).
    ``skipped`` lists a folder's frames that could not be read, each with why."""

    def __init__(self, name: str, *, container: Any = None, paths: list[Path] | None = None, fps: float,
                 width: int, height: int, duration: float | None, every: int = 1, max_fps: float | None = None,
                 max_seconds: float | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                 on_skip: OnSkip | None = None) -> None:
        if every < 1:
            raise ValueError("every must be at least 1")
        if max_fps is not None and not max_fps > 0:
            raise ValueError("max_fps must be positive")
        self.name, self.fps, self.width, self.height, self.duration = name, fps, width, height, duration
        self.every, self.max_fps, self.max_seconds, self.max_pixels = every, max_fps, max_seconds, max_pixels
        self.decoded = 0  # frames decoded so far, kept or not
        self.skipped: list[tuple[Path, str]] = []
        self._on_skip = on_skip
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
            if frame._path is not None and not self._load(frame):
                continue
            yield frame

    def _frames(self) -> Iterator[Frame]:
        if self._paths is not None:
            for index, path in enumerate(self._paths):
                try:
                    with Image.open(path) as image:
                        width, height = image.size
                except (OSError, SyntaxError, ValueError) as exc:  # Pillow's "cannot identify", a bad header
                    self._skip(path, _image_reason(exc))
                    continue
                self._check(index, width, height)
                yield Frame(index, index / self.fps, width, height, _path=path)
            return
        av = require_av()
        stream = self._container.streams.video[0]
        start: float | None = None
        index = pictures = 0
        try:
            for packet in self._container.demux(stream):
                size = _packet_size(packet, stream.codec_context.name)
                if size is not None:  # a still-picture codec: one packet, one frame, in order
                    self._check(pictures, *size)  # before the decoder allocates the picture
                    pictures += 1
                for decoded in packet.decode():
                    self._check(index, decoded.width, decoded.height)
                    seconds = decoded.time if decoded.time is not None else index / self.fps
                    start = seconds if start is None else start
                    yield Frame(index, max(0.0, seconds - start), decoded.width, decoded.height, _av_frame=decoded)
                    index += 1
        except (av.error.FFmpegError, OSError) as exc:
            # FFmpeg refuses a picture over its max_pixels (set from ours) with an error (invalid argument,
            # invalid data or out of memory, by codec) that a broken one can give too
            raise VideoReadError(self.name, f"decoding stopped after {index} frames: a broken frame, or one over "
                                            f"{self.max_pixels:,} pixels (FFmpeg: {_reason(exc)})") from None

    def _check(self, index: int, width: int, height: int) -> None:
        if width * height > self.max_pixels:
            raise VideoTooLargeError(self.name, f"frame {index} is {width}x{height}, over {self.max_pixels:,} pixels")

    def _load(self, frame: Frame) -> bool:
        """Decode a folder's frame now (its pixels kept for :meth:`Frame.rgb`); False: skipped, unreadable."""
        try:
            pixels = load_image(frame._path, max_pixels=self.max_pixels)  # type: ignore[arg-type]
        except ImageTooLargeError as exc:
            raise VideoTooLargeError(self.name, f"frame {frame.index}: {exc.reason}") from None
        except ImageReadError as exc:
            self._skip(frame._path, exc.reason)  # type: ignore[arg-type]
            return False
        frame._cache[0] = pixels
        frame.height, frame.width = pixels.shape[:2]  # as decoded (an EXIF rotation turns the header's size)
        return True

    def _skip(self, path: Path, reason: str) -> None:
        self.skipped.append((path, reason))
        if self._on_skip is not None:
            self._on_skip(path, reason)

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
    return shown_path(str(source))  # no escape sequence in a file name reaches the terminal


def open_video(source: VideoSource, *, every: int = 1, max_fps: float | None = None, folder_fps: float = FOLDER_FPS,
               max_seconds: float | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
               name: str | None = None, on_skip: OnSkip | None = None) -> VideoReader:
    """Open a video file, a folder of frames (played at ``folder_fps``, in name order), a stream URL
    (``rtsp://``, ``http://``...), a camera (its index: ``0`` is ``/dev/video0``) or a clip's bytes.

    ``every`` keeps one frame in that many, ``max_fps`` at most that many a second; ``max_seconds`` and
    ``max_pixels`` refuse a longer clip or a larger frame, any frame (:class:`VideoTooLargeError`). A source
    that cannot be read raises :class:`VideoReadError`, saying why; a folder's frame that cannot be read is
    skipped, and ``on_skip`` is told (its path, and why)."""
    name = name or describe_source(source)
    options = {"every": every, "max_fps": max_fps, "max_seconds": max_seconds, "max_pixels": max_pixels,
               "on_skip": on_skip}
    if isinstance(source, (str, Path)) and not _is_url(str(source)) and not _is_camera(source):
        # a name over 255 bytes, a NUL, permission denied: one line naming the source, not a traceback
        with checked(source, error=lambda _, reason: VideoReadError(name, reason)) as path:
            if path.is_dir():
                return _open_folder(path, name, folder_fps, max_pixels, options)
            if not path.exists():
                raise VideoReadError(name, "no such file or folder")
            kind = _not_regular(path)
            if kind:
                raise VideoReadError(name, f"not a regular file ({kind}), so not a video file")
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
        # the decoder refuses to allocate a larger picture than this, whatever size a frame declares; the
        # margin is its padding (it checks the picture's size rounded up, edges included), and each frame is
        # checked exactly once decoded
        decoder_limit = max_pixels + max_pixels // 8 + DECODER_MARGIN
        stream.codec_context.options = {"max_pixels": str(min(decoder_limit, 2**31 - 1))}
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
    width = height = 0
    for frame in paths:  # the size of its first readable frame (the unreadable ones are skipped as it plays)
        try:
            with Image.open(frame) as first:
                width, height = first.size
            break
        except (OSError, SyntaxError, ValueError):
            continue
    else:
        raise VideoReadError(name, f"none of its {len(paths)} frames is an image")
    if width * height > max_pixels:
        raise VideoTooLargeError(name, f"{width}x{height} frames are over {max_pixels:,} pixels")
    return VideoReader(name, paths=paths, fps=fps, width=width, height=height, duration=len(paths) / fps,
                       **options)


def _not_regular(path: Path) -> str:
    """What ``path`` is when it is not a regular file ("" when it is): a device, a pipe, a socket."""
    mode = path.stat().st_mode
    if stat.S_ISREG(mode):
        return ""
    kinds = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"),
             (stat.S_ISSOCK, "a socket"))
    return next((kind for test, kind in kinds if test(mode)), "not a file")


def _packet_size(packet: Any, codec: str) -> tuple[int, int] | None:
    """The width and height a packet's picture says it has, read from its JPEG or PNG header without decoding
    it (None: another codec, or no header found; the decoder's own limit then applies)."""
    if not packet.size or codec not in JPEG_CODECS | PNG_CODECS:
        return None
    data = memoryview(packet)
    if codec in PNG_CODECS:
        if bytes(data[:8]) != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
            return None
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return _jpeg_size(data)


def _jpeg_size(data: memoryview) -> tuple[int, int] | None:
    """The size in a JPEG's frame header (SOFn), found by walking its marker segments up to the first scan."""
    position = 2 if bytes(data[:2]) == b"\xff\xd8" else 0
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length: SOI, RSTn, TEM
            position += 2
            continue
        if marker == 0xDA:  # start of scan: no frame header before it
            return None
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOF0-15, not DHT, JPG, DAC
            if position + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return width, height
        position += 2 + struct.unpack(">H", data[position + 2:position + 4])[0]
    return None


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


def _image_reason(exc: BaseException) -> str:
    """Why Pillow could not open a frame, without the path it repeats."""
    if isinstance(exc, UnidentifiedImageError):
        return "not an image file (unknown format)"
    return str(getattr(exc, "strerror", None) or exc)


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
