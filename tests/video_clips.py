"""Short video clips made from LFW photos, with the truth of who is on screen when (tests/test_video.py and
scripts/bench_video.py).

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
    import av

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
    if not path.exists():
        partial = path.with_suffix(".tmp.mp4")
        with av.open(str(partial), "w") as container:
            stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=scene.fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": "20"}
            for pixels in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
            container.mux(stream.encode(None))
        partial.replace(path)
    return clip
