"""Short video clips made from LFW photos, with the truth of who is on screen when (scripts/bench_video.py and
tests/test_video.py; it lives here because a script never imports the tests).

A scene is laid out on a 320x180 plan and rendered at any scale (1.5: 480x270 for the tests, 4: 1280x720 for
the benchmark): LFW portraits pasted on a textured background, people appearing and leaving, a camera that
pans or zooms over the scene, the lights going out for a while. :func:`make_clip` writes it with PyAV (no
ffmpeg program needed) and returns, for every frame, the people visible and where (:class:`Clip`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw_dev" / "images"
PLAN = (320, 180)  # the plan's size; a scene renders at a multiple of it
PHOTO = (64, 79)  # a pasted portrait on the plan (the face region of an LFW photo, 130x160)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Actor:
    """``name`` (an LFW person) on screen in frames ``start`` to ``end`` (inclusive), photo ``photo``, its
    top-left corner at ``place(frame)`` on the plan (or the world, for a camera that moves)."""

    name: str
    photo: int
    start: int
    end: int
    place: Callable[[int], tuple[float, float]]


@dataclass(frozen=True)
class Scene:
    name: str
    frames: int
    actors: tuple[Actor, ...]
    world: tuple[int, int] = PLAN
    #: The camera at each frame: the plan rectangle it sees, as (left, top, zoom) (zoom 2: half the plan).
    camera: Callable[[int], tuple[float, float, float]] = lambda t: (0.0, 0.0, 1.0)
    dark: tuple[int, int] | None = None  # frames (inclusive) with the lights out
    fps: int = 10


@dataclass
class Clip:
    """A rendered scene: the file, its size and rate, and for each frame the people on screen with boxes."""

    path: Path
    width: int
    height: int
    fps: int
    truth: list[list[tuple[str, Box]]] = field(default_factory=list)

    def segments(self) -> list[tuple[str, int, int]]:
        """Each stretch of frames one person is on screen without a break: (name, first, last)."""
        open_runs: dict[str, int] = {}
        last: dict[str, int] = {}
        found = []
        for t, people in enumerate(self.truth + [[]]):
            names = {name for name, _ in people}
            for name in list(open_runs):
                if name not in names:
                    found.append((name, open_runs.pop(name), last[name]))
            for name in names:
                open_runs.setdefault(name, t)
                last[name] = t
        return sorted(found, key=lambda s: (s[1], s[0]))


def _still(x: float, y: float) -> Callable[[int], tuple[float, float]]:
    return lambda t: (x, y)


def _walk(x0: float, x1: float, y: float, start: int, end: int) -> Callable[[int], tuple[float, float]]:
    return lambda t: (x0 + (x1 - x0) * (t - start) / max(1, end - start), y + 2 * math.sin(t / 3))


#: People entering and leaving, a stranger (Bill_Gates is not enrolled), the lights out in frames 40-54.
PEOPLE = Scene("people", 80, (
    Actor("Colin_Powell", 5, 0, 29, _walk(10, 25, 50, 0, 29)),
    Actor("Tony_Blair", 5, 10, 69, _walk(240, 228, 55, 10, 69)),
    Actor("Bill_Gates", 5, 25, 79, _walk(128, 135, 45, 25, 79)),
    Actor("Megawati_Sukarnoputri", 5, 60, 79, _still(15, 52)),
), dark=(40, 54))

#: A camera panning right and back over two people.
PAN = Scene("pan", 40, (
    Actor("Andre_Agassi", 6, 0, 39, _still(100, 50)),
    Actor("Hugo_Chavez", 5, 0, 39, _still(230, 58)),
), world=(420, 200), camera=lambda t: (10 + 90 * (1 - math.cos(2 * math.pi * t / 40)) / 2,
                                        6 + 5 * math.sin(2 * math.pi * t / 20), 1.0))

#: A camera zooming in on two people (to 1.5x).
ZOOM = Scene("zoom", 40, (
    Actor("Jacques_Chirac", 5, 0, 39, _still(80, 55)),
    Actor("Tony_Blair", 6, 0, 39, _still(176, 55)),
), camera=lambda t: _zoom(1 + 0.5 * t / 39))

#: Who the scenes' galleries enroll (from photos 1 and 2 of each; the clips use others).
ENROLLED = ("Colin_Powell", "Tony_Blair", "Hugo_Chavez", "Jacques_Chirac", "Andre_Agassi", "Megawati_Sukarnoputri")


def _zoom(zoom: float) -> tuple[float, float, float]:
    width, height = PLAN[0] / zoom, PLAN[1] / zoom
    return (PLAN[0] - width) / 2, (PLAN[1] - height) / 2, zoom


def photo_path(name: str, number: int) -> Path:
    return LFW / name / f"{name}_{number:04d}.jpg"


@lru_cache(maxsize=64)
def _portrait(name: str, number: int, width: int, height: int) -> Image.Image:
    return Image.open(photo_path(name, number)).convert("RGB").crop((60, 45, 190, 205)).resize(
        (width, height), Image.Resampling.LANCZOS)


def _background(width: int, height: int) -> Image.Image:
    """A textured, deterministic backdrop (so that a pan shows): soft stripes and noise."""
    rng = np.random.default_rng(11)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 110 + 25 * np.sin(xs / (width / 9)) + 15 * np.cos(ys / (height / 5)) + rng.normal(0, 6, (height, width))
    pixels = np.stack([base * 0.9, base, base * 1.1], -1)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_clip(scene: Scene, folder: Path, *, scale: float = 1.5) -> Clip:
    """Render ``scene`` at ``scale`` times the plan into ``folder/<name>-<width>.mp4`` (H.264, made once)."""

    width, height = round(PLAN[0] * scale) // 2 * 2, round(PLAN[1] * scale) // 2 * 2
    world_scale = scale  # world pixels per plan unit, before the camera's zoom
    world = _background(round(scene.world[0] * world_scale), round(scene.world[1] * world_scale))
    photo = (round(PHOTO[0] * world_scale), round(PHOTO[1] * world_scale))
    path = folder / f"{scene.name}-{width}.mp4"
    clip = Clip(path, width, height, scene.fps)
    frames = []
    for t in range(scene.frames):
        canvas = world.copy()
        left, top, zoom = scene.camera(t)
        view = (left * world_scale, top * world_scale, (left + PLAN[0] / zoom) * world_scale,
                (top + PLAN[1] / zoom) * world_scale)
        factor = width / (view[2] - view[0])
        people: list[tuple[str, Box]] = []
        lit = scene.dark is None or not scene.dark[0] <= t <= scene.dark[1]
        for actor in scene.actors:
            if not actor.start <= t <= actor.end:
                continue
            x, y = actor.place(t)
            corner = (round(x * world_scale), round(y * world_scale))
            canvas.paste(_portrait(actor.name, actor.photo, *photo), corner)
            if lit:
                people.append((actor.name, ((corner[0] - view[0]) * factor, (corner[1] - view[1]) * factor,
                                            (corner[0] + photo[0] - view[0]) * factor,
                                            (corner[1] + photo[1] - view[1]) * factor)))
        image = canvas.resize((width, height), Image.Resampling.BILINEAR, box=view)
        pixels = np.asarray(image)
        if not lit:
            pixels = (pixels * 0.02).astype(np.uint8)
        frames.append(pixels)
        clip.truth.append(people)
    write_clip(path, frames, scene.fps)
    return clip


def write_clip(path: Path, frames: list[np.ndarray], fps: int) -> None:
    """Write RGB ``frames`` to ``path`` as H.264 (MPEG-4 where FFmpeg lacks it) once; an existing clip is kept."""
    import av

    if path.exists():
        return
    partial = path.with_suffix(".tmp.mp4")
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt, stream.options = "yuv420p", {"crf": "20"}
        for pixels in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))
    partial.replace(path)


def flat_jpeg(width: int, height: int) -> bytes:
    """A valid baseline JPEG of mid-grey, ``width`` x ``height`` (multiples of 16), made without holding its
    pixels: Pillow's 16x16 grey JPEG with its size patched and its one 4-byte block group repeated (about
    ``width * height / 64`` bytes)."""
    import io
    import struct

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (128, 128, 128)).save(buffer, "JPEG")
    data = buffer.getvalue()
    start = data.index(b"\xff\xda")  # start of scan: its header, then the entropy-coded data
    scan = start + 2 + struct.unpack(">H", data[start + 2:start + 4])[0]
    mcu = data[scan:data.index(b"\xff\xd9", scan)]
    sof = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    header = data[:sof + 5] + struct.pack(">HH", height, width) + data[sof + 9:scan]
    return header + mcu * ((width // 16) * (height // 16)) + b"\xff\xd9"


def resized_clip(path: Path, *, codec: str, size: tuple[int, int], declared: tuple[int, int] = (320, 240)) -> Path:
    """A Matroska clip whose header says ``declared`` frames (two of them first), then two frames of ``size``:
    a clip that lies about its frame size, to the pixel limit that only the header's size was checked against.
    MJPEG's large frames are :func:`flat_jpeg` packets; another codec's come from a second encoder."""
    from fractions import Fraction

    import av

    rate = Fraction(10)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = declared
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        grey = np.full((declared[1], declared[0], 3), 128, np.uint8)
        packets = [p for _ in range(2) for p in stream.encode(av.VideoFrame.from_ndarray(grey, format="rgb24"))]
        packets += stream.encode(None)
        if codec == "mjpeg":
            packets += [av.Packet(flat_jpeg(*size)) for _ in range(2)]
        else:
            encoder = av.CodecContext.create(codec, "w")
            encoder.width, encoder.height = size
            encoder.pix_fmt, encoder.time_base, encoder.framerate = "yuv420p", 1 / rate, rate
            big = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), 128, np.uint8), format="rgb24")
            packets += [p for _ in range(2) for p in encoder.encode(big.reformat(format="yuv420p"))]
            packets += encoder.encode(None)
        for number, packet in enumerate(packets):
            packet.stream, packet.time_base = stream, 1 / rate
            packet.pts = packet.dts = number
            container.mux(packet)
    return path


def make_cut_clip(folder: Path, before: tuple[str, int], after: tuple[str, int], *, frames: int = 30, cut: int = 15,
                  new_shot: bool = True, scale: float = 1.5, fps: int = 10) -> Clip:
    """A hard cut: person ``before`` (name, photo number) in frames ``0..cut-1``, then ``after`` at the same
    place from frame ``cut`` on, both gently swaying. ``new_shot``: the backdrop changes at the cut too (another
    camera); without it only the face changes (what a cut detector cannot see, and the identity check must)."""

    width, height = round(PLAN[0] * scale) // 2 * 2, round(PLAN[1] * scale) // 2 * 2
    photo = (round(PHOTO[0] * scale * 1.4), round(PHOTO[1] * scale * 1.4))
    backdrops = [_background(width, height)]
    second = np.asarray(_background(width, height).transpose(Image.Transpose.FLIP_LEFT_RIGHT)).astype(np.float32)
    backdrops.append(Image.fromarray(np.clip(second * (0.55, 0.8, 1.25), 0, 255).astype(np.uint8)))
    tag = "shot" if new_shot else "face"
    path = folder / f"cut-{tag}-{before[0]}{before[1]}-{after[0]}{after[1]}-{width}.mp4"
    clip = Clip(path, width, height, fps)
    pictures = []
    for t in range(frames):
        name, number = before if t < cut else after
        canvas = backdrops[1 if new_shot and t >= cut else 0].copy()
        corner = (round((width - photo[0]) / 2 + 6 * math.sin(t / 4)),
                  round((height - photo[1]) / 2 + 2 * math.cos(t / 5)))
        canvas.paste(_portrait(name, number, *photo), corner)
        pictures.append(np.asarray(canvas))
        clip.truth.append([(name, (corner[0], corner[1], corner[0] + photo[0], corner[1] + photo[1]))])
    write_clip(path, pictures, fps)
    return clip
