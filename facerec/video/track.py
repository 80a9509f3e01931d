"""Faces followed from frame to frame: ByteTrack (Zhang et al. 2022) from Roboflow's ``trackers`` package.

:class:`FaceTracker` hands each frame's face boxes and time to ``trackers.ByteTrackTracker`` (Kalman
prediction and two-stage IoU matching; timestamps let it follow frames that ``every`` or ``max_fps`` spaced
out) and returns one track id per face. ByteTrack gives a new face an id on its second frame; the face's
first frame is credited to that id here too (:attr:`TrackUpdate.born`), so a track starts where the face
appeared. A track is closed once ByteTrack has let it go (:meth:`FaceTracker.alive`), ``lost_seconds``
after its face was last seen. A frame whose time does not move forward (frames that share a timestamp, or
one out of order) is given a time just after the last: ByteTrack would skip it, and warn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from facerec.detection import Face

__all__ = ["FaceTracker", "TrackUpdate", "box_iou"]

#: How close (IoU) a new track's box must be to an untracked face of the frame before, to have begun there.
BORN_IOU = 0.3
#: The seconds after the last frame's time that a frame whose time does not move forward is given.
TIME_STEP = 1e-6


@dataclass(frozen=True)
class TrackUpdate:
    """``ids[i]`` is the track of face ``i`` (-1: not yet a track); ``born`` maps a track that got its id in
    this frame to the face of the previous frame it began with (an index into that frame's faces)."""

    ids: list[int]
    born: dict[int, int] = field(default_factory=dict)


class FaceTracker:
    """ByteTrack over faces.

    >>> tracker = FaceTracker(fps=10)  # doctest: +SKIP
    >>> tracker.update(faces, time=0.0).ids  # doctest: +SKIP
    [-1]
    """

    def __init__(self, fps: float, *, lost_seconds: float = 1.0, min_iou: float = 0.1) -> None:
        try:
            from trackers import ByteTrackTracker
        except ImportError:  # pragma: no cover - the video extra is installed wherever video is used
            from facerec.errors import FaceRecError

            raise FaceRecError("video needs PyAV and the tracker: pip install 'facerec[video]'") from None
        # ByteTrack counts its lost-track buffer in frames of a 30 fps video
        self._tracker = ByteTrackTracker(lost_track_buffer=max(1, round(lost_seconds * 30)), frame_rate=fps,
                                         track_activation_threshold=0.5, high_conf_det_threshold=0.5,
                                         minimum_consecutive_frames=1, minimum_iou_threshold=min_iou)
        self._untracked: list[tuple[int, np.ndarray]] = []  # the previous frame's faces that had no id
        self._seen: set[int] = set()
        self._last_time: float | None = None

    def update(self, faces: Sequence[Face], time: float) -> TrackUpdate:
        """The track of each of this frame's ``faces`` (its time in seconds from the start)."""
        import supervision as sv

        if self._last_time is not None and not time > self._last_time:
            time = self._last_time + TIME_STEP
        self._last_time = time
        boxes = np.array([face.box for face in faces], np.float32).reshape(-1, 4)
        detections = sv.Detections(xyxy=boxes, confidence=np.array([f.score for f in faces], np.float32),
                                   data={"face": np.arange(len(faces))})
        tracked = self._tracker.update(detections, timestamp=time)
        ids = [-1] * len(faces)
        tracks = tracked.tracker_id if tracked.tracker_id is not None else ()
        for face, track in zip(tracked.data.get("face", ()), tracks):  # nothing tracked: no "face" data
            ids[int(face)] = int(track)
        born = {}
        for i, track in enumerate(ids):
            if track >= 0 and track not in self._seen:
                self._seen.add(track)
                match = _best_match(boxes[i], self._untracked)
                if match is not None:
                    born[track] = match
        self._untracked = [(i, boxes[i]) for i, track in enumerate(ids) if track < 0]
        return TrackUpdate(ids, born)

    def alive(self) -> set[int]:
        """The ids of the tracks ByteTrack still follows (seen lately, or lost for less than ``lost_seconds``)."""
        tracks: list[Any] = self._tracker.tracks
        return {int(t.tracker_id) for t in tracks if t.tracker_id >= 0}


def _best_match(box: np.ndarray, candidates: list[tuple[int, np.ndarray]]) -> int | None:
    best, index = BORN_IOU, None
    for i, other in candidates:
        overlap = box_iou(box, other)
        if overlap >= best:
            best, index = overlap, i
    return index


def box_iou(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """The intersection over union of two ``x1, y1, x2, y2`` boxes.

    >>> box_iou((0, 0, 10, 10), (5, 0, 15, 10))
    0.3333333333333333
    """
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, float(x2 - x1)) * max(0.0, float(y2 - y1))
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0
