"""Landmark refinement: MTCNN's last two stages re-place the 5 landmarks of another detector's faces.

Alignment quality decides verification accuracy, and detectors differ more in their landmarks than in
finding faces. MTCNN's refinement network (R-Net, 24x24) squares and corrects a face box, and its output
network (O-Net, 48x48) places the 5 points on that box; they are cheap (well under a millisecond a face).
What makes MTCNN slow is the image pyramid of its proposal network, which a fast detector replaces here:
YuNet or RetinaFace propose the faces, and R-Net and O-Net place the landmarks as MTCNN would.
Their weights ship inside the facenet-pytorch wheel; MTCNN's own conventions are kept (its crop
clipping, ``rerec`` squares and ``bbreg`` box regression, area resampling, (x - 127.5) / 128), in numpy.
With ``backend="onnx"`` both networks run in onnxruntime: their published ONNX files where they are found
(``FACEREC_WEIGHTS_DIR`` or its ``onnx/`` folder, the cache; no torch, no facenet-pytorch), else exported from
facenet-pytorch's weights once and cached by their sha256.
This is the default landmark placer (``get_detector(..., landmarks="mtcnn")``).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facerec.detection import Face
from facerec.models.detectors.base import Detector
from facerec.models.weights import WeightsFile

__all__ = ["MTCNN_ONNX", "MTCNNLandmarks", "Refined", "area_resize"]


class MTCNNLandmarks:
    """MTCNN's R-Net and O-Net, applied to boxes found by another detector.

    The detector's own landmarks are kept where either network does not see a face in its crop (its
    face probability under MTCNN's own thresholds, 0.7 and 0.7), and where O-Net moves any point by
    more than ``max_shift`` times the distance between the detector's eyes: O-Net can be confident
    and wrong. On Extended Yale B photos (even the evenly lit ones) its points lie a median 0.59 eye
    distances from YuNet's (LFW: 0.15), and one-shot rank-1 fell from 98% to 47% without this gate.
    With it at 0.3, Yale B rank-1 is 98.3% and 92% of LFW faces still get O-Net's points.

    The crops, box corrections and point placement are numpy (facenet-pytorch's ``rerec``, ``bbreg``,
    ``pad`` and area resampling, rewritten); with ``backend="onnx"`` and the exports cached, no torch is
    imported at all. The PyTorch networks are built only to export them, or for ``backend="torch"``.
    """

    def __init__(self, *, thresholds: tuple[float, float] = (0.7, 0.7), max_shift: float = 0.3,
                 backend: str = "torch", threads: int | None = None) -> None:
        self.thresholds = thresholds
        self.max_shift = max_shift
        self._nets: tuple[Any, Any] | None = None
        # in onnxruntime the refinement takes half the time (PyTorch's max pooling with ceil_mode
        # took 42% of it on a CPU)
        self.sessions = self._onnx_sessions(threads) if backend == "onnx" else None
        if self.sessions is None:
            self.nets  # noqa: B018 - facenet-pytorch is needed now; say so at once, not at the first photo

    @property
    def nets(self) -> tuple[Any, Any]:
        """facenet-pytorch's R-Net and O-Net with their weights (imports torch), built on first use."""
        if self._nets is None:
            from facenet_pytorch.models.mtcnn import ONet, RNet

            self._nets = (RNet(pretrained=True).eval(), ONet(pretrained=True).eval())
        return self._nets

    def _onnx_sessions(self, threads: int | None) -> list[Any] | None:
        """onnxruntime sessions, or None (PyTorch) where the networks cannot be exported (said on stderr, once)."""
        from facerec.errors import OnnxExportError

        try:
            return _sessions(self, threads)
        except OnnxExportError:
            return None

    def refine(self, images: Sequence[np.ndarray], found: Sequence[Sequence[Face]]) -> list[list[Face]]:
        """The same faces (boxes, scores, detector names) with MTCNN's landmarks.

        Each network runs once over the faces of all ``images`` (one call per image would cost more
        than the networks themselves).
        """
        faces = [face for image_faces in found for face in image_faces]
        if not faces:
            return [[] for _ in found]
        owner = [i for i, image_faces in enumerate(found) for _ in image_faces]
        boxes = _square(np.array([f.box for f in faces], dtype=np.float32))
        reg, prob = self._run(0, _crops_of(images, owner, boxes, 24))
        trusted = prob[:, 1] >= self.thresholds[0]
        boxes = _square(_regress(boxes, reg))
        _, points, prob = self._run(1, _crops_of(images, owner, boxes, 48))
        trusted &= prob[:, 1] >= self.thresholds[1]
        width = boxes[:, 2:3] - boxes[:, 0:1] + 1
        height = boxes[:, 3:4] - boxes[:, 1:2] + 1
        xs = width * points[:, :5] + boxes[:, 0:1] - 1
        ys = height * points[:, 5:] + boxes[:, 1:2] - 1
        placed = np.stack([xs, ys], -1).astype(np.float64)
        kept = trusted & (_shift(placed, [f.landmarks for f in faces]) <= self.max_shift)
        refined: list[list[Face]] = [[] for _ in found]
        for i, face, points_i, ok in zip(owner, faces, placed.tolist(), kept.tolist()):
            refined[i].append(Face(face.box, face.score, tuple(map(tuple, points_i)), face.detector) if ok else face)
        return refined

    def _run(self, which: int, crops: np.ndarray) -> tuple[np.ndarray, ...]:
        """R-Net (``which=0``) or O-Net (1) on ``crops``, in onnxruntime when there are sessions."""
        if self.sessions is not None:
            return tuple(self.sessions[which].run(None, {"input": crops}))
        import torch

        with torch.inference_mode():
            return tuple(out.numpy() for out in self.nets[which](torch.from_numpy(crops)))


def _facenet_data() -> Path:
    """facenet-pytorch's weights folder, found without importing the package (which imports torch)."""
    from facerec.extras import missing_extra

    try:
        spec = importlib.util.find_spec("facenet_pytorch")
    except ValueError:  # in sys.modules as None: made unimportable
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise missing_extra("MTCNN's landmark networks (their ONNX files, mtcnn-rnet-opset17.onnx and "
                            "mtcnn-onet-opset17.onnx, are not in FACEREC_WEIGHTS_DIR; or use --landmarks detector)",
                            "torch", "facenet_pytorch")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


#: The published ONNX files of R-Net and O-Net (exported from facenet-pytorch 2.5.3's rnet.pt and onet.pt).
MTCNN_ONNX = {
    name: WeightsFile(model="mtcnn", tag=f"{name}-onnx", filename=f"mtcnn-{name}-opset17.onnx", url=None, folder="onnx",
                      sha256=digest, license="MIT", note=f"MTCNN's {name} (facenet-pytorch 2.5.3) in ONNX")
    for name, digest in (("rnet", "40f68544bea38b25092bafb4de871b5084d9c9a7a2b0de93a1f562d59ff3f0a0"),
                         ("onet", "8de382645ceffc259407421cf33b523f6b04c2478c0463bab93303fe333b576d"))
}
#: The sha256 of the PyTorch weights each published file was exported from.
MTCNN_SOURCES = {"rnet": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
                 "onet": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d"}


def _sessions(landmarks: MTCNNLandmarks, threads: int | None) -> list[Any]:
    """onnxruntime sessions over R-Net and O-Net: the published ONNX files where found, else exported once
    from facenet-pytorch's weights and cached by their sha256."""
    from facerec.errors import WeightsNotFoundError
    from facerec.models.weights import resolve_weights, sha256_file
    from facerec.runtime import cached_onnx, onnx_session

    sessions = []
    nets = (("rnet", 0, 24, ["reg", "prob"]), ("onet", 1, 48, ["reg", "points", "prob"]))
    for name, which, size, outputs in nets:
        try:
            path = resolve_weights(MTCNN_ONNX[name])
        except WeightsNotFoundError:
            digest = sha256_file(_facenet_data() / f"{name}.pt")
            published = MTCNN_ONNX[name].sha256
            known = (published,) if published and digest == MTCNN_SOURCES[name] else ()
            path = cached_onnx(f"mtcnn-{name}", digest, functools.partial(_example, landmarks, which, size),
                               inputs=["input"], outputs=outputs,
                               dynamic_axes={key: {0: "batch"} for key in ["input", *outputs]}, known=known)
        sessions.append(onnx_session(path, threads))
    return sessions


def _example(landmarks: MTCNNLandmarks, which: int, size: int) -> tuple[Any, Any]:
    import torch

    return landmarks.nets[which], torch.zeros(1, 3, size, size)


def _shift(points: np.ndarray, landmarks: Sequence[Any]) -> np.ndarray:
    """Per face, the largest distance between two landmark sets, in units of the eye distance."""
    own = np.asarray(landmarks, dtype=np.float64).reshape(len(landmarks), 5, 2)
    eyes = np.maximum(np.linalg.norm(own[:, 0] - own[:, 1], axis=1), 1.0)
    return np.linalg.norm(points - own, axis=2).max(axis=1) / eyes


def _square(boxes: np.ndarray) -> np.ndarray:
    """Boxes (``N x 4``) made square around their centres on their longer side (MTCNN's ``rerec``)."""
    out = boxes.astype(np.float32, copy=True)
    width, height = out[:, 2] - out[:, 0], out[:, 3] - out[:, 1]
    side = np.maximum(width, height)
    out[:, 0] += width * 0.5 - side * 0.5
    out[:, 1] += height * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Boxes moved by R-Net's corrections, in units of their (inclusive) sides (MTCNN's ``bbreg``)."""
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    return (boxes + reg[:, :4] * np.stack([width, height, width, height], 1)).astype(np.float32)


def _crops_of(images: Sequence[np.ndarray], owner: Sequence[int], boxes: np.ndarray, size: int) -> np.ndarray:
    """MTCNN's crops of ``boxes``, each from its own image (``owner``), clipped to it, resized to ``size`` with
    area resampling and normalised to ``(x - 127.5) / 128``: ``N x 3 x size x size`` float32."""
    out = np.zeros((len(owner), 3, size, size), np.float32)
    corners = np.trunc(boxes).astype(np.int64)  # MTCNN's ``pad``: 1-based, clipped to the image
    for k, (i, (x0, y0, x1, y1)) in enumerate(zip(owner, corners.tolist())):
        height, width = images[i].shape[:2]
        x0, y0, x1, y1 = max(x0, 1), max(y0, 1), min(x1, width), min(y1, height)
        if y1 > y0 - 1 and x1 > x0 - 1:
            crop = images[i][y0 - 1 : y1, x0 - 1 : x1].astype(np.float32).transpose(2, 0, 1)
            out[k] = area_resize(crop, size)
    # a box wholly outside the image stays black (zeros before normalising)
    return (out - np.float32(127.5)) * np.float32(0.0078125)


def area_resize(image: np.ndarray, size: int) -> np.ndarray:
    """``C x H x W`` resized to ``C x size x size`` by averaging over each output pixel's window, as
    ``torch.nn.functional.interpolate(mode="area")`` (adaptive average pooling) does."""
    rows = _pooling(image.shape[1], size)
    cols = _pooling(image.shape[2], size)
    return (rows @ image.astype(np.float64) @ cols.T).astype(np.float32)


@functools.lru_cache(maxsize=256)
def _pooling(length: int, size: int) -> np.ndarray:
    """The ``size x length`` matrix averaging window ``[floor(i*L/S), ceil((i+1)*L/S))`` into output ``i``."""
    matrix = np.zeros((size, length))
    for i in range(size):
        start, end = (i * length) // size, -(-((i + 1) * length) // size)
        matrix[i, start:end] = 1.0 / (end - start)
    matrix.flags.writeable = False
    return matrix


class Refined(Detector):
    """``inner``'s faces with their landmarks placed by MTCNN's R-Net and O-Net."""

    def __init__(self, inner: Detector, refiner: MTCNNLandmarks) -> None:
        self.inner, self.refiner = inner, refiner
        self.name = inner.name

    @property
    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "inner": self.inner.settings, "landmarks": "mtcnn-rnet-onet",
                "thresholds": list(self.refiner.thresholds), "max_shift": self.refiner.max_shift, "version": 3}

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        return self.refiner.refine(images, self.inner.detect(images))
