"""Who appears when in a video: detect, track, check and identify each face, a frame at a time.

Per frame, a fast detector (the pipeline's first, without the second looks photos get: a track needs boxes)
finds the faces on a copy of at most :data:`DETECT_SIDE` pixels, and :class:`~facerec.video.track.FaceTracker`
links them into tracks. A face is aligned and embedded when its track needs it: a new track, a track not
checked for ``check_seconds``, and a face the tracker may have given the wrong track (one that moved or
changed size a lot since the frame before, looks unlike its track's face there, came back after a missed frame,
or overlaps another face). Those
faces, of one frame or two, go through the photos' path (:func:`facerec.crops.locate_faces`: MTCNN's
landmarks, full resolution) and the embedder in one batch, and are scored for quality (:mod:`facerec.quality`).
A track never holds two people: every track ends at a shot cut (:mod:`facerec.video.cuts`), and a face whose
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

from facerec.crops import locate_faces
from facerec.detection import Face
from facerec.errors import FaceRecError
from facerec.quality import FaceQuality, assess
from facerec.video.cuts import ShotCuts
from facerec.video.decode import Frame, VideoSource, open_video
from facerec.video.identity import track_bound
from facerec.video.track import FaceTracker, box_iou

if TYPE_CHECKING:
    from facerec.gallery import Gallery, Identification
    from facerec.models.detectors.base import Detector
    from facerec.recognizer import FaceRecognizer

__all__ = ["DETECT_SIDE", "TrackResult", "Watcher", "watch", "video_detector"]

#: The longest side of the frame copy that faces are detected on (YuNet's own input size).
DETECT_SIDE = 640
#: How much better (in quality score) a face must be than its track's worst kept one to be embedded too.
QUALITY_MARGIN = 0.05
#: The longest a track goes without a face of it embedded and checked against it (seconds of video).
CHECK_SECONDS = 0.4
#: A face whose box overlaps its track's box of the frame before by less than this (IoU) is checked at once:
#: the tracker may have matched it to the wrong track.
MOVED_IOU = 0.5
#: A face whose look (:func:`_thumbnail`) correlates with its track's face of the frame before under this is
#: checked at once: another face in the same place.
SAME_LOOK = 0.5
#: The side of a face's thumbnail.
THUMB_SIDE = 12

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
    checked: float = float("-inf")  # the time of its last face embedded (and checked against it)
    box: tuple[float, float, float, float] | None = None  # its face's box in the last frame it was seen in
    seen_at: int = -1  # the number of the last frame looked at (Watcher.frames) it was seen in
    thumb: np.ndarray | None = None  # its face's _thumbnail in the last frame it was seen in


@dataclass
class _Seen:
    """A face of a frame looked at, and its embedding where it was embedded."""

    face: Face
    frame: Frame
    embedded: _Embedded | None = None
    thumb: np.ndarray | None = None  # see _thumbnail


class Watcher:
    """Tracks and identifies the faces of frames fed to it one by one (:meth:`feed`); :meth:`finish` ends
    the tracks still open. :func:`watch` drives one over a whole source.

    A track never holds two people: it ends at a shot cut (:class:`~facerec.video.cuts.ShotCuts`), and a face
    whose embedding scores under the calibrated bound (:func:`~facerec.video.identity.track_bound`) against
    its track's ends the track and begins another. Its name is decided from its ``best_frames`` best faces
    (plus those that beat the worst kept by :data:`QUALITY_MARGIN`) and revised as better ones come;
    ``named_from`` says from which frame the name holds. ``lost_seconds`` is how long a track waits for its
    face to come back. A face is embedded when its track needs it (new, not checked for ``check_seconds``, or
    a face the tracker may have given the wrong track: see the module); ``check_seconds=0`` embeds and checks
    every face of every frame. The faces embedded with a frame are aligned and embedded in one batch."""

    def __init__(self, gallery: Gallery, *, fps: float, top_k: int = 5, best_frames: int = 3,
                 lost_seconds: float = 1.0, detector: Detector | None = None, cuts: bool = True,
                 check_seconds: float = CHECK_SECONDS) -> None:
        if best_frames < 1:
            raise ValueError("best_frames must be at least 1")
        if not check_seconds >= 0:
            raise ValueError("check_seconds must be 0 or more")
        self.check_seconds = check_seconds
        self.gallery, self.top_k, self.best_frames = gallery, top_k, best_frames
        self.fps, self.lost_seconds = fps, lost_seconds
        recognizer = gallery.recognizer
        self._refiner: Any  # an MTCNNLandmarks, or None: the detector's landmarks are kept
        self.detector, self._refiner = (detector, None) if detector is not None else video_detector(recognizer)
        self.tracker = FaceTracker(fps, lost_seconds=lost_seconds)
        self.cuts = ShotCuts(fps, source_side=DETECT_SIDE) if cuts else None
        self.bound = track_bound(recognizer.weights)
        self.frames = 0  # frames looked at
        self.splits = 0  # tracks ended because a face was not their person
        self.embedded = 0  # faces aligned and embedded
        #: The faces of the last frame fed, each with its track (-1: none yet); ``born`` maps a track that got
        #: its id with that frame to its face in the frame before (its index in the previous ``last_faces``).
        self.last_faces: list[tuple[int, Face]] = []
        self.born: dict[int, int] = {}
        self._open: dict[int, _Track] = {}
        self._of_tracker: dict[int, int] = {}  # the tracker's id -> the open track it follows now
        self._next_id = 1
        self._untracked: list[_Seen] = []
        self._cut_pending = False
        self._ended: list[TrackResult] = []  # ended, not yet returned (a feed interrupted after a cut)

    def feed(self, frame: Frame) -> list[TrackResult]:
        """Look at one frame; the tracks that ended with it (a shot cut, a face not theirs, or their face not
        seen for ``lost_seconds``)."""
        # a cut seen in a frame whose embedding was interrupted still ends the tracks with the next frame
        self._cut_pending |= self.cuts is not None and self.cuts.is_cut(frame)
        scale = frame.scale(DETECT_SIDE)
        found = self.detector.detect([frame.rgb(DETECT_SIDE)])[0]
        faces = [face.scaled(1 / scale) if scale != 1.0 else face for face in found]
        if self._cut_pending:  # the tracks ended by a cut are kept in _ended until returned, come what may
            self._ended += self.finish()
            self._cut_pending = False
            self.tracker = FaceTracker(self.fps, lost_seconds=self.lost_seconds)
            self._untracked = []
        update = self.tracker.update(faces, frame.time)
        small = frame.rgb(DETECT_SIDE)
        seen = [_Seen(face, frame, thumb=_thumbnail(small, at.box)) for face, at in zip(faces, found)]
        # the tracker names a new track's first face by its place in the frame before's faces (these, next)
        previous, self._untracked = self._untracked, seen
        # Tracks change only once the faces they need are embedded: a Ctrl-C during the embedding leaves no
        # empty track for finish() to decide on.
        firsts = [previous[earlier] for earlier in update.born.values()]
        due = [now for tracker_id, now in zip(update.ids, seen)
               if tracker_id >= 0 and tracker_id not in update.born and self._due(tracker_id, now, faces)]
        self._embed(firsts + due)
        self.frames += 1
        born, ended = {}, self._ended
        self._ended = []
        for tracker_id, earlier in update.born.items():
            ended += self._follow(tracker_id, previous[earlier])
            born[self._of_tracker[tracker_id]] = earlier
        ids = []
        for tracker_id, now in zip(update.ids, seen):
            ids.append(-1)
            if tracker_id >= 0:
                ended += self._follow(tracker_id, now)
                ids[-1] = self._of_tracker[tracker_id]
        self.last_faces, self.born = list(zip(ids, faces)), born
        alive = self.tracker.alive()
        for tracker_id in [t for t in self._of_tracker if t not in alive]:
            ended.append(self._close(self._of_tracker.pop(tracker_id)))
        return ended

    def _due(self, tracker_id: int, seen: _Seen, faces: list[Face]) -> bool:
        """Whether the face ``seen``, which the tracker gave ``tracker_id``, is to be embedded and checked."""
        track_id = self._of_tracker.get(tracker_id)
        track = self._open.get(track_id) if track_id is not None else None
        if track is None or track.box is None or seen.frame.time - track.checked >= self.check_seconds:
            return True
        box = seen.face.box
        return track.seen_at != self.frames - 1 or box_iou(box, track.box) < MOVED_IOU or \
            any(other is not seen.face and box_iou(box, other.box) > 0 for other in faces) or \
            (track.thumb is not None and float(np.mean(seen.thumb * track.thumb)) < SAME_LOOK)

    def finish(self) -> list[TrackResult]:
        """End every track still open (the video ended, or was stopped, or the shot was cut)."""
        self._of_tracker.clear()
        ended, self._ended = self._ended, []
        return ended + [self._close(track_id) for track_id in sorted(self._open)]

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
        if track is not None and track.reference is not None and seen.embedded is not None and \
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
        track.box, track.seen_at, track.thumb = seen.face.box, self.frames - 1, seen.thumb
        kept, embedded = track.kept, seen.embedded
        if embedded is None:
            return
        track.checked = seen.frame.time
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

    def _embed(self, faces: list[_Seen]) -> None:
        """Align ``faces`` as a photo's would be (their landmarks refined, full resolution, through
        :func:`facerec.crops.locate_faces`) and embed them, all in one batch."""
        if not faces:
            return
        frames: dict[int, Frame] = {}
        owner = []  # which of ``frames`` each face is of
        for seen in faces:
            frames.setdefault(id(seen.frame), seen.frame)
            owner.append(list(frames).index(id(seen.frame)))
        images = [frame.rgb() for frame in frames.values()]
        found: list[list[Face]] = [[seen.face for seen, i in zip(faces, owner) if i == n] for n in range(len(images))]
        if self._refiner is not None:
            found = self._refiner.refine(images, found)
        located = locate_faces(images, detector=None, alignment=self.gallery.recognizer.weights.alignment,
                               all_faces=True, found=found, max_pixels=max(i.shape[0] * i.shape[1] for i in images))
        crops = np.concatenate([entry.crops for entry in located])
        vectors = self.gallery.embed_crops(crops)
        refined = [face for entry in located for face in entry.faces]
        order = [seen for n in range(len(images)) for seen, i in zip(faces, owner) if i == n]
        for seen, face, crop, vector in zip(order, refined, crops, vectors):
            quality = assess(face, crop)
            seen.embedded = _Embedded(quality.score, seen.frame.index, face, quality, vector)
        self.embedded += len(order)

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


def _thumbnail(pixels: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The face in ``box`` of ``pixels`` as a tiny grey patch, zero mean and unit variance: two of them
    correlate (mean of their product) near 1 where the same face moved a little, far less where another
    face took its place."""
    height, width = pixels.shape[:2]
    x1, y1 = min(max(int(box[0]), 0), width - 1), min(max(int(box[1]), 0), height - 1)
    x2, y2 = max(min(int(np.ceil(box[2])), width), x1 + 1), max(min(int(np.ceil(box[3])), height), y1 + 1)
    rows = np.linspace(y1, y2 - 1, THUMB_SIDE).round().astype(int)
    cols = np.linspace(x1, x2 - 1, THUMB_SIDE).round().astype(int)
    patch = pixels[rows][:, cols].astype(np.float32).mean(axis=2)
    patch -= patch.mean()
    return patch / max(float(patch.std()), 1e-6)


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
    from facerec.models.detectors import build_detector, get_detector
    from facerec.models.detectors.face_crop import FaceCropDetector

    if isinstance(recognizer.detector, FaceCropDetector):
        raise FaceRecError("watching a video needs a face detector (not --face-crop)")
    first = recognizer.detector.name.split(",")[0].strip()
    if recognizer.config is not None:  # the pipeline's config, whole: its detector options (score threshold...) too
        detector = build_detector(recognizer.config.with_(detectors=(first,), landmarks="detector",
                                                          threads=recognizer.threads), retry=False)
    else:
        detector = get_detector(first, backend=recognizer.backend, threads=recognizer.threads, retry=False,
                                landmarks="detector")
    landmarks = recognizer.config.landmarks if recognizer.config is not None else "mtcnn"
    refiner = None
    if landmarks == "mtcnn" and first != "mtcnn":
        from facerec.models.detectors.landmarks import MTCNNLandmarks

        refiner = MTCNNLandmarks(backend=recognizer.backend, threads=recognizer.threads)
    _DETECTORS[recognizer] = (detector, refiner)
    return detector, refiner
