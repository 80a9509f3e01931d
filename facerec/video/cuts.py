"""Shot cuts: where a video jumps to another shot, so that no track carries a face across it.

:class:`ShotCuts` feeds each frame looked at, as a small fixed-size copy (shrunk from the copy faces are
detected on, made once for both: FFmpeg's scaler takes longer to make the small one from the frame), to
PySceneDetect's content detector (Castellano's ``ContentDetector``: the change in hue, saturation and
brightness between two frames, a cut above ``threshold``; its default, 27, is the one its authors tuned on
real footage). A cut is said on the first frame of the new shot, with no minimum shot length: a track must
end at every cut.

>>> cuts = ShotCuts(fps=25)  # doctest: +SKIP
>>> [cuts.is_cut(frame) for frame in frames]  # doctest: +SKIP
[False, False, True, False]
"""

from __future__ import annotations

import numpy as np

from facerec.errors import FaceRecError
from facerec.video.decode import Frame

__all__ = ["CUT_SIZE", "CUT_THRESHOLD", "ShotCuts"]

#: The size (width, height) every frame is compared at: cheap, and frames of a folder may differ in size.
CUT_SIZE = (192, 108)
#: The longest side of the frame copy the small one is shrunk from (by default; the Watcher gives its own).
SOURCE_SIDE = 640
#: PySceneDetect's content threshold (its default).
CUT_THRESHOLD = 27.0


class ShotCuts:
    """Says of each frame fed in order whether a new shot begins with it (never the first frame)."""

    def __init__(self, fps: float, *, threshold: float = CUT_THRESHOLD, source_side: int = SOURCE_SIDE) -> None:
        try:
            from scenedetect.detectors import ContentDetector
        except ImportError:  # pragma: no cover - the video extra is installed wherever video is used
            raise FaceRecError("video needs PySceneDetect: pip install 'facerec[video]'") from None
        self._detector = ContentDetector(threshold=threshold, min_scene_len=1)
        self.fps = float(fps) if fps > 0 else 25.0  # PySceneDetect takes no int rate
        self.source_side = source_side
        self.frames = 0
        self.cuts: list[int] = []  # the indexes (in the source) of the frames that began a shot

    def is_cut(self, frame: Frame) -> bool:
        from PIL import Image
        from scenedetect import FrameTimecode

        small = np.asarray(Image.fromarray(frame.rgb(self.source_side)).resize(CUT_SIZE, Image.Resampling.BILINEAR))
        found = self._detector.process_frame(FrameTimecode(self.frames, fps=self.fps), small[:, :, ::-1].copy())
        self.frames += 1
        cut = bool(found) and self.frames > 1
        if cut:
            self.cuts.append(frame.index)
        return cut
