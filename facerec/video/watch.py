"""Who appears when in a video: detect, track, check and identify each face, a frame at a time.

Per frame, a fast detector (the pipeline's first, without the second looks photos get: a track needs boxes)
finds the faces on a copy of at most :data:`DETECT_SIDE` pixels; every face of the frame is then aligned as
photos are (MTCNN's landmarks, full resolution) and embedded, in one batch, and scored for quality
(:mod:`facerec.quality`). :class:`~facerec.video.track.FaceTracker` links the faces into tracks, and a track
never holds two people: every track ends at a shot cut (:mod:`facerec.video.cuts`), and a face whose
embedding scores under the calibrated same-person bound against its track's (:mod:`facerec.video.identity`)
begins a new track. A track's name is the gallery's own decision
(:meth:`~facerec.gallery.Gallery.identify_embeddings`, the stricter threshold for a low-quality face) on the
mean of its ``best_frames`` best faces, revised as better faces come; a :class:`TrackResult` says who it
was, from which frame that name holds, from when to when, in how many frames.

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
from facerec.video.cuts import ShotCuts
from facerec.video.decode import Frame, VideoSource, open_video
from facerec.video.identity import track_bound
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
    named_from_frame: int = -1  # the frame from which ``name`` holds (an earlier decision was revised there)
    named_from_time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        decision = self.identification.to_dict()
        return {"track": self.track_id, "name": self.name, "recognized": self.name is not None,
                "score": decision["score"], "threshold": decision["threshold"],
                "score_kind": decision["score_kind"], "raw_score": decision["raw_score"],
                "reason": decision["reason"], "first_time": round(self.first_time, 3),
                "last_time": round(self.last_time, 3), "first_frame": self.first_frame,
                "last_frame": self.last_frame, "frames": self.frames, "embedded": self.embedded,
                "best_frame": self.best_frame, "named_from_frame": self.named_from_frame,
                "named_from_time": round(self.named_from_time, 3),
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
    name: str | None = None  # the name in force (as of the last frame it was seen in)
    named_from: tuple[int, float] = (0, 0.0)  # the frame (index, time) from which ``name`` holds
    reference: np.ndarray | None = None  # the unit mean of ``kept``: what a new face is checked against


@dataclass
class _Seen:
    """A face of the last frame looked at, embedded, before or without a track."""

    face: Face
    frame: Frame
    embedded: _Embedded


class Watcher:
    """Tracks and identifies the faces of frames fed to it one by one (:meth:`feed`); :meth:`finish` ends
    the tracks still open. :func:`watch` drives one over a whole source.

    A track never holds two people: it ends at a shot cut (:class:`~facerec.video.cuts.ShotCuts`), and a face
    whose embedding scores under the calibrated bound (:func:`~facerec.video.identity.track_bound`) against
    its track's ends the track and begins another. Its name is decided from its ``best_frames`` best faces
    (plus those that beat the worst kept by :data:`QUALITY_MARGIN`) and revised as better ones come;
    ``named_from`` says from which frame the name holds. ``lost_seconds`` is how long a track waits for its
    face to come back. Every face of a frame is aligned and embedded in one batch."""

    def __init__(self, gallery: Gallery, *, fps: float, top_k: int = 5, best_frames: int = 3,
                 lost_seconds: float = 1.0, detector: Detector | None = None, cuts: bool = True) -> None:
        if best_frames < 1:
            raise ValueError("best_frames must be at least 1")
        self.gallery, self.top_k, self.best_frames = gallery, top_k, best_frames
        self.fps, self.lost_seconds = fps, lost_seconds
        recognizer = gallery.recognizer
        self._refiner: Any  # an MTCNNLandmarks, or None: the detector's landmarks are kept
        self.detector, self._refiner = (detector, None) if detector is not None else video_detector(recognizer)
        self.tracker = FaceTracker(fps, lost_seconds=lost_seconds)
        self.cuts = ShotCuts(fps) if cuts else None
        self.bound = track_bound(recognizer.weights)
        self.frames = 0  # frames looked at
        self.splits = 0  # tracks ended because a face was not their person
        #: The faces of the last frame fed, each with its track (-1: none yet); ``born`` maps a track that got
        #: its id with that frame to its face in the frame before (its index in the previous ``last_faces``).
        self.last_faces: list[tuple[int, Face]] = []
        self.born: dict[int, int] = {}
        self._open: dict[int, _Track] = {}
        self._of_tracker: dict[int, int] = {}  # the tracker's id -> the open track it follows now
        self._next_id = 1
        self._untracked: list[_Seen] = []
        self._cut_pending = False

    def feed(self, frame: Frame) -> list[TrackResult]:
        """Look at one frame; the tracks that ended with it (a shot cut, a face not theirs, or their face not
        seen for ``lost_seconds``)."""
        ended: list[TrackResult] = []
        # a cut seen in a frame whose embedding was interrupted still ends the tracks with the next frame
        self._cut_pending |= self.cuts is not None and self.cuts.is_cut(frame)
        scale = frame.scale(DETECT_SIDE)
        found = self.detector.detect([frame.rgb(DETECT_SIDE)])[0]
        faces = [face.scaled(1 / scale) if scale != 1.0 else face for face in found]
        seen = [_Seen(face, frame, embedded) for face, embedded in zip(faces, self._embed_frame(frame, faces))]
        # Tracks change only once the frame's faces are embedded: a Ctrl-C during the embedding leaves no
        # empty track for finish() to decide on, and no track ended by a cut unreported.
        if self._cut_pending:
            self._cut_pending = False
            ended += self.finish()
            self.tracker = FaceTracker(self.fps, lost_seconds=self.lost_seconds)
            self._untracked = []
        update = self.tracker.update(faces, frame.time)
        self.frames += 1
        born = {}
        for tracker_id, earlier in update.born.items():
            ended += self._follow(tracker_id, self._untracked[earlier])
            born[self._of_tracker[tracker_id]] = earlier
        ids = []
        for tracker_id, now in zip(update.ids, seen):
            ids.append(-1)
            if tracker_id >= 0:
                ended += self._follow(tracker_id, now)
                ids[-1] = self._of_tracker[tracker_id]
        self._untracked = seen  # the tracker names a new track's first face by its place in this list
        self.last_faces, self.born = list(zip(ids, faces)), born
        alive = self.tracker.alive()
        for tracker_id in [t for t in self._of_tracker if t not in alive]:
            ended.append(self._close(self._of_tracker.pop(tracker_id)))
        return ended

    def finish(self) -> list[TrackResult]:
        """End every track still open (the video ended, or was stopped, or the shot was cut)."""
        self._of_tracker.clear()
        return [self._close(track_id) for track_id in sorted(self._open)]

    def label(self, track_id: int) -> str:
        """Who track ``track_id`` is as of the last frame (its name, or "not recognized"; "?" without a track)."""
        track = self._open.get(track_id)
        if track is None or not track.kept:
            return "?"
        return track.name or "not recognized"

    def faces_now(self) -> list[dict[str, Any]]:
        """Each face of the last frame fed: its box, its track (-1: none yet) and the name in force then."""
        answer = []
        for track_id, face in self.last_faces:
            track = self._open.get(track_id)
            name = track.name if track is not None else None
            answer.append({"box": [round(float(v), 1) for v in face.box], "track": track_id, "name": name,
                           "recognized": name is not None, "tracked": track is not None})
        return answer

    def _follow(self, tracker_id: int, seen: _Seen) -> list[TrackResult]:
        """Add ``seen`` to the open track the tracker's ``tracker_id`` follows; a face that is not that track's
        person ends it and begins a new one (the list holds the track so ended)."""
        ended = []
        track_id = self._of_tracker.get(tracker_id)
        track = self._open.get(track_id) if track_id is not None else None
        if track is not None and track.reference is not None and \
                float(seen.embedded.vector @ track.reference) < self.bound.bound:
            ended.append(self._close(track.track_id))
            self.splits += 1
            track = None
        if track is None:
            track = _Track(self._next_id, seen.frame.time, seen.frame.index)
            self._next_id += 1
            self._open[track.track_id] = track
            self._of_tracker[tracker_id] = track.track_id
        self._observe(track, seen)
        return ended

    def _observe(self, track: _Track, seen: _Seen) -> None:
        track.frames += 1
        track.last_time, track.last_frame = seen.frame.time, seen.frame.index
        kept, embedded = track.kept, seen.embedded
        if len(kept) < self.best_frames or embedded.rank > min(k.rank for k in kept) + QUALITY_MARGIN:
            kept.append(embedded)
            if len(kept) > self.best_frames:
                kept.remove(min(kept, key=lambda k: k.rank))
            mean = np.mean([k.vector for k in kept], axis=0)
            track.reference = mean / max(float(np.linalg.norm(mean)), 1e-12)
            track.decision = None
            name = self._decide(track).name
            if name != track.name or len(kept) == 1:
                track.name, track.named_from = name, (seen.frame.index, seen.frame.time)

    def _embed_frame(self, frame: Frame, faces: list[Face]) -> list[_Embedded]:
        """Every face of ``frame`` aligned as a photo's would be (landmarks refined, full resolution) and
        embedded, all in one batch."""
        if not faces:
            return []
        pixels = frame.rgb()
        if self._refiner is not None:
            faces = self._refiner.refine([pixels], [faces])[0]
        crops = align_faces(pixels, faces, self.gallery.recognizer.weights.alignment)
        vectors = self.gallery.embed_crops(crops)
        qualities = [assess(face, crop) for face, crop in zip(faces, crops)]
        return [_Embedded(quality.score, frame.index, face, quality, vector)
                for face, quality, vector in zip(faces, qualities, vectors)]

    def _decide(self, track: _Track) -> Identification:
        if track.decision is None:
            best = _best(track)
            reference = track.reference if track.reference is not None else best.vector
            track.decision = self.gallery.identify_embeddings([best.face], reference[None], self.top_k,
                                                              qualities=[best.quality])[0]
        return track.decision

    def _close(self, track_id: int) -> TrackResult:
        track = self._open.pop(track_id)
        decision = self._decide(track)
        return TrackResult(track_id, decision.name, decision.score, decision.threshold, track.first_time,
                           track.last_time, track.first_frame, track.last_frame, track.frames, len(track.kept),
                           decision, _best(track).frame, track.named_from[0], track.named_from[1])


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
