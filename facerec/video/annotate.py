"""A video written back with each face's box, track number and name (``facerec watch --out``), by PyAV.

>>> with AnnotatedVideo("out.mp4", fps=10, width=640, height=360) as out:  # doctest: +SKIP
...     out.write(pixels, [((10, 10, 90, 100), "3 Ada")])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw

from facerec.video.decode import VideoReadError, require_av

__all__ = ["AnnotatedVideo", "VIDEO_SUFFIXES", "draw_boxes"]

#: Encoders tried in order: H.264 where PyAV's FFmpeg has it, else MPEG-4 part 2 (always built in).
CODECS = ("libx264", "h264", "mpeg4")
#: The containers it writes, by the file name's suffix.
VIDEO_SUFFIXES = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}


def draw_boxes(pixels: np.ndarray, labels: Sequence[tuple[Sequence[float], str]]) -> np.ndarray:
    """A copy of the RGB ``pixels`` with each ``(box, text)`` drawn: green for a name, orange otherwise."""
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for box, text in labels:
        colour = (255, 160, 0) if text.endswith(("not recognized", "?")) else (40, 220, 60)
        x1, y1, x2, y2 = (float(v) for v in box)
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=max(2, round(pixels.shape[1] / 400)))
        left, top, right, bottom = draw.textbbox((x1, y1), text)
        lift = bottom - top + 4
        draw.rectangle((x1, y1 - lift, x1 + right - left + 6, y1), fill=colour)
        draw.text((x1 + 3, y1 - lift + 1), text, fill=(0, 0, 0))
    return np.asarray(image)


class AnnotatedVideo:
    """An MP4, MOV, MKV or AVI file (by its suffix: :data:`VIDEO_SUFFIXES`) of RGB frames; written to
    ``path.tmp`` and moved into place when closed, so a stopped run leaves no half file under the name. A frame
    of another size than ``width`` x ``height`` is scaled to it."""

    def __init__(self, path: str | Path, *, fps: float, width: int, height: int) -> None:
        av = require_av()
        self.path = Path(path)
        self._partial = self.path.with_name(self.path.name + ".tmp")
        fmt = VIDEO_SUFFIXES.get(self.path.suffix.lower())
        if fmt is None:
            raise VideoReadError(self.path, f"cannot write it: not a video file name ({', '.join(VIDEO_SUFFIXES)})")
        try:
            self._container = av.open(str(self._partial), mode="w", format=fmt)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise VideoReadError(self.path, f"cannot write it ({exc})") from None
        self._stream = _stream(self._container, fps)
        self._stream.width, self._stream.height = width - width % 2, height - height % 2
        self._stream.pix_fmt = "yuv420p"
        self.frames = 0

    def write(self, pixels: np.ndarray, labels: Sequence[tuple[Sequence[float], str]] = ()) -> None:
        av = require_av()
        drawn = draw_boxes(pixels, labels) if labels else pixels
        width, height = self._stream.width, self._stream.height
        if drawn.shape[0] - drawn.shape[0] % 2 != height or drawn.shape[1] - drawn.shape[1] % 2 != width:
            drawn = np.asarray(Image.fromarray(drawn).resize((width, height), Image.Resampling.BILINEAR))
        drawn = drawn[:height, :width]  # an odd row or column off: the encoder takes even sizes
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(drawn), format="rgb24")
        frame.pts = self.frames
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        if self._container is None:
            return
        self._container.mux(self._stream.encode(None))
        self._container.close()
        self._container = None
        os.replace(self._partial, self.path)

    def __enter__(self) -> AnnotatedVideo:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _stream(container: Any, fps: float) -> Any:
    from fractions import Fraction

    rate = Fraction(fps).limit_denominator(1001)
    for codec in CODECS:
        try:
            stream = container.add_stream(codec, rate=rate)
        except Exception:  # noqa: BLE001,S112 - an encoder this FFmpeg lacks: try the next
            continue
        stream.time_base = 1 / rate
        return stream
    raise VideoReadError(container.name, "no video encoder available")
