"""Video: faces tracked through a video file, a folder of frames, a stream or a camera, and identified.

``decode`` opens sources (PyAV), ``track`` follows faces (ByteTrack), ``cuts`` finds shot cuts
(PySceneDetect), ``identity`` holds the calibrated bound that splits a track, ``watch`` checks and names each
track from its best frames, ``annotate`` writes a video with boxes and names. PyAV, the tracker and
PySceneDetect come with the ``video`` extra (``pip install 'facerec[video]'``) and are imported only when a
video is opened.

>>> from facerec.video import watch  # doctest: +SKIP
>>> [t.name for t in watch(gallery, "clip.mp4")]  # doctest: +SKIP
['Ada', None]
"""

from __future__ import annotations

from facerec.video.decode import Frame, VideoReader, VideoReadError, VideoTooLargeError, open_video
from facerec.video.watch import TrackResult, Watcher, watch

__all__ = ["Frame", "TrackResult", "VideoReadError", "VideoReader", "VideoTooLargeError", "Watcher", "open_video",
           "watch"]
