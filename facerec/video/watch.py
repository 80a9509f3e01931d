"""Who appears when in a video: detect, track, and identify each track once, from its best frames.

Per frame, a fast detector (the pipeline's first, without the second looks and landmark refinement that
photos get: a track needs boxes) finds the faces on a copy of at most :data:`DETECT_SIDE` pixels, and
:class:`~facerec.video.track.FaceTracker` links them into tracks. Each face is scored for quality
(:mod:`facerec.quality`: size, pose, sharpness, exposure), and only a face that enters its track's
``best_frames`` best is aligned as photos are (MTCNN's landmarks, full resolution) and embedded. When a track
ends, the mean of those embeddings is identified by the gallery's own decision
(:meth:`~facerec.gallery.Gallery.identify_embeddings`, the stricter threshold for a low-quality face), and a
:class:`TrackResult` says who it was, from when to when, in how many frames.

>>> for track in watch(gallery, "clip.mp4"):  # doctest: +SKIP
...     print(track.name, track.first_time, track.last_time)
Ada 0.0 3.4
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from facerec.alignment import align_faces
from facerec.detection import Face
from facerec.errors import FaceRecError
from facerec.quality import FaceQuality, assess
from facerec.video.decode import Frame, VideoSource, open_video
from facerec.video.track import FaceTracker

if TYPE_CHECKING:
    from facerec.gallery import Gallery, Identification
    from facerec.models.detectors.base import Detector
    from facerec.recognizer import FaceRecognizer

__all__ = ["DETECT_SIDE", "TrackResult", "Watcher", "watch", "video_detector"]

#: The longest side of the frame copy that faces are detected on (YuNet's own input size).
DETECT_SIDE = 640
#: How much better (in quality score) a face must be than its track's worst kept one to be embedded too.
QUALITY_MARGIN = 0.05

_DETECTORS: weakref.WeakKeyDictionary[Any, tuple[Detector, Any]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class TrackResult:
    """One face followed through the video and who it is (``name`` None: not recognized).

    ``first_time``/``last_time`` (seconds) and ``first_frame``/``last_frame`` (the source's frame numbers) are
    when the face was first and last seen; ``frames`` counts the frames it was seen in (of those looked at),
    ``embedded`` those it was identified from. ``identification`` is the decision, with the candidates and the
    face of its best frame, ``best_frame``."""

    track_id: int
    name: str | None
    score: float
    threshold: float
    first_time: float
    last_time: float
    first_frame: int
    last_frame: int
    frames: int
    embedded: int
    identification: Identification
    best_frame: int = -1  # the frame of the identification's face (its best-quality one)

    def to_dict(self) -> dict[str, Any]:
        decision = self.identification.to_dict()
        return {"track": self.track_id, "name": self.name, "recognized": self.name is not None,
                "score": decision["score"], "threshold": decision["threshold"],
                "score_kind": decision["score_kind"], "raw_score": decision["raw_score"],
                "reason": decision["reason"], "first_time": round(self.first_time, 3),
                "last_time": round(self.last_time, 3), "first_frame": self.first_frame,
                "last_frame": self.last_frame, "frames": self.frames, "embedded": self.embedded,
                "best_frame": self.best_frame,
                "quality": decision["quality"], "face": decision["face"], "candidates": decision["candidates"]}


@dataclass
class _Embedded:
    rank: float  # the quality score it was chosen by
    frame: int
    face: Face
    quality: FaceQuality
    vector: np.ndarray


@dataclass
class _Track:
    track_id: int
    first_time: float
    first_frame: int
    last_time: float = 0.0
    last_frame: int = 0
    frames: int = 0
    kept: list[_Embedded] = field(default_factory=list)
    decision: Identification | None = None  # of ``kept`` as it is now; None: not decided yet


@dataclass
class _Seen:
    """A face of the last frame looked at, before or without a track."""

    face: Face
    rank: float
    frame: Frame


class Watcher:
    """Tracks and identifies the faces of frames fed to it one by one (:meth:`feed`); :meth:`finish` ends
    the tracks still open. :func:`watch` drives one over a whole source.

    ``best_frames`` faces per track are embedded at most (plus those that beat the worst kept by
    :data:`QUALITY_MARGIN`); ``lost_seconds`` is how long a track waits for its face to come back."""

    def __init__(self, gallery: Gallery, *, fps: float, top_k: int = 5, best_frames: int = 3,
                 lost_seconds: float = 1.0, detector: Detector | None = None) -> None:
        if best_frames < 1:
            raise ValueError("best_frames must be at least 1")
        self.gallery, self.top_k, self.best_frames = gallery, top_k, best_frames
        recognizer = gallery.recognizer
        self._refiner: Any  # an MTCNNLandmarks, or None: the detector's landmarks are kept
        self.detector, self._refiner = (detector, None) if detector is not None else video_detector(recognizer)
        self.tracker = FaceTracker(fps, lost_seconds=lost_seconds)
        self.frames = 0  # frames looked at
        #: The faces of the last frame fed, each with its track (-1: none yet); ``born`` maps a track that got
        #: its id with that frame to its face in the frame before (its index in the previous ``last_faces``).
        self.last_faces: list[tuple[int, Face]] = []
        self.born: dict[int, int] = {}
        self._open: dict[int, _Track] = {}
        self._untracked: list[_Seen] = []

    def feed(self, frame: Frame) -> list[TrackResult]:
        """Look at one frame; the tracks that ended with it (their face not seen for ``lost_seconds``)."""
        scale = frame.scale(DETECT_SIDE)
        small = frame.rgb(DETECT_SIDE)
        found = self.detector.detect([small])[0]
        faces = [face.scaled(1 / scale) if scale != 1.0 else face for face in found]
        ranks = _ranks(small, found, faces, self.gallery.recognizer)
        update = self.tracker.update(faces, frame.time)
        self.frames += 1
        seen = [_Seen(face, rank, frame) for face, rank in zip(faces, ranks)]
        # A track is opened only once its first face is embedded: a Ctrl-C during the embedding leaves no
        # empty track for finish() to decide on.
        for track_id, earlier in update.born.items():
            first = self._untracked[earlier]
            track = _Track(track_id, first.frame.time, first.frame.index)
            self._observe(track, first)
            self._open[track_id] = track
        for track_id, now in zip(update.ids, seen):
            if track_id >= 0:
                track = self._open.get(track_id) or _Track(track_id, frame.time, frame.index)
                self._observe(track, now)
                self._open[track_id] = track
        self._untracked = seen  # the tracker names a new track's first face by its place in this list
        self.last_faces, self.born = list(zip(update.ids, faces)), dict(update.born)
        alive = self.tracker.alive()
        return [self._close(track_id) for track_id in sorted(self._open) if track_id not in alive]

    def finish(self) -> list[TrackResult]:
        """End every track still open (the video ended, or was stopped)."""
        return [self._close(track_id) for track_id in sorted(self._open)]

    def label(self, track_id: int) -> str:
        """Who track ``track_id`` is so far (its name, or "not recognized"; "?" before it has a track)."""
        track = self._open.get(track_id)
        if track is None or not track.kept:
            return "?"
        decision = self._decide(track)
        return decision.name or "not recognized"

    def _observe(self, track: _Track, seen: _Seen) -> None:
        track.frames += 1
        track.last_time, track.last_frame = seen.frame.time, seen.frame.index
        kept = track.kept
        if len(kept) < self.best_frames or seen.rank > min(k.rank for k in kept) + QUALITY_MARGIN:
            kept.append(self._embed(seen))
            if len(kept) > self.best_frames:
                kept.remove(min(kept, key=lambda k: k.rank))
            track.decision = None

    def _embed(self, seen: _Seen) -> _Embedded:
        """``seen``'s face aligned as a photo's would be (landmarks refined, full resolution) and embedded."""
        recognizer = self.gallery.recognizer
        pixels = seen.frame.rgb()
        face = self._refiner.refine([pixels], [[seen.face]])[0][0] if self._refiner is not None else seen.face
        crop = align_faces(pixels, [face], recognizer.weights.alignment)
        return _Embedded(seen.rank, seen.frame.index, face, assess(face, crop[0]), self.gallery.embed_crops(crop)[0])

    def _decide(self, track: _Track) -> Identification:
        if track.decision is None:
            best = _best(track)
            mean = np.mean([k.vector for k in track.kept], axis=0)
            mean /= max(float(np.linalg.norm(mean)), 1e-12)
            track.decision = self.gallery.identify_embeddings([best.face], mean[None], self.top_k,
                                                              qualities=[best.quality])[0]
        return track.decision

    def _close(self, track_id: int) -> TrackResult:
        track = self._open.pop(track_id)
        decision = self._decide(track)
        return TrackResult(track_id, decision.name, decision.score, decision.threshold, track.first_time,
                           track.last_time, track.first_frame, track.last_frame, track.frames, len(track.kept),
                           decision, _best(track).frame)


def _best(track: _Track) -> _Embedded:
    return max(track.kept, key=lambda k: k.quality.score)


def watch(gallery: Gallery, source: VideoSource, *, every: int = 1, max_fps: float | None = None, top_k: int = 5,
          best_frames: int = 3, lost_seconds: float = 1.0, on_frame: Callable[[Frame, Watcher], None] | None = None,
          **open_options: Any) -> Iterator[TrackResult]:
    """The tracks of ``source`` (see :func:`~facerec.video.decode.open_video`), each as it ends, then those
    still open when the video ends. ``on_frame`` is called after each frame looked at (to draw it, say).

    >>> [t.name for t in watch(gallery, "clip.mp4", max_fps=10)]  # doctest: +SKIP
    ['Ada', None]
    """
    with open_video(source, every=every, max_fps=max_fps, **open_options) as video:
        watcher = Watcher(gallery, fps=video.fps, top_k=top_k, best_frames=best_frames, lost_seconds=lost_seconds)
        for frame in video:
            yield from watcher.feed(frame)
            if on_frame is not None:
                on_frame(frame, watcher)
        yield from watcher.finish()


def video_detector(recognizer: FaceRecognizer) -> tuple[Detector, Any]:
    """The detector that follows faces from frame to frame (the pipeline's first, alone, with its own
    landmarks) and the landmark refiner of the faces to embed (None where the pipeline keeps the detector's
    landmarks); made once per recognizer."""
    if recognizer in _DETECTORS:
        return _DETECTORS[recognizer]
    from facerec.models.detectors import get_detector
    from facerec.models.detectors.face_crop import FaceCropDetector

    if isinstance(recognizer.detector, FaceCropDetector):
        raise FaceRecError("watching a video needs a face detector (not --face-crop)")
    first = recognizer.detector.name.split(",")[0].strip()
    detector = get_detector(first, backend=recognizer.backend, threads=recognizer.threads, retry=False,
                            landmarks="detector")
    landmarks = recognizer.config.landmarks if recognizer.config is not None else "mtcnn"
    refiner = None
    if landmarks == "mtcnn" and first != "mtcnn":
        from facerec.models.detectors.landmarks import MTCNNLandmarks

        refiner = MTCNNLandmarks(backend=recognizer.backend, threads=recognizer.threads)
    _DETECTORS[recognizer] = (detector, refiner)
    return detector, refiner


def _ranks(small: np.ndarray, found: list[Face], faces: list[Face], recognizer: FaceRecognizer) -> list[float]:
    """Each face's quality score, from a crop of the detector's copy (cheap: it only ranks a track's frames)."""
    if not found:
        return []
    crops = align_faces(small, found, recognizer.weights.alignment)
    return [assess(face, crop).score for face, crop in zip(faces, crops)]
