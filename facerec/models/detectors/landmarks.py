"""Landmark refinement: MTCNN's last two stages re-place the 5 landmarks of another detector's faces.

Alignment quality decides verification accuracy, and detectors differ more in their landmarks than in
finding faces. MTCNN's refinement network (R-Net, 24x24) squares and corrects a face box, and its output
network (O-Net, 48x48) places the 5 points on that box; they are cheap (well under a millisecond a face).
What makes MTCNN slow is the image pyramid of its proposal network, which a fast detector replaces here:
YuNet or RetinaFace propose the faces, and R-Net and O-Net place the landmarks as MTCNN would.
Their weights ship inside the facenet-pytorch wheel; MTCNN's own conventions are kept (its crop
clipping, ``rerec`` squares and ``bbreg`` box regression, area resampling, (x - 127.5) / 128). With
``backend="onnx"`` both networks run in onnxruntime, exported once and cached by their weights' sha256.
This is the default landmark placer (``get_detector(..., landmarks="mtcnn")``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from facerec.detection import Face
from facerec.models.detectors.base import Detector

__all__ = ["MTCNNLandmarks", "Refined"]


class MTCNNLandmarks:
    """MTCNN's R-Net and O-Net, applied to boxes found by another detector.

    The detector's own landmarks are kept where either network does not see a face in its crop (its
    face probability under MTCNN's own thresholds, 0.7 and 0.7), and where O-Net moves any point by
    more than ``max_shift`` times the distance between the detector's eyes: O-Net can be confident
    and wrong. On Extended Yale B photos (even the evenly lit ones) its points lie a median 0.59 eye
    distances from YuNet's (LFW: 0.15), and one-shot rank-1 fell from 98% to 47% without this gate.
    With it at 0.3, Yale B rank-1 is 98.3% and 92% of LFW faces still get O-Net's points.
    """

    def __init__(self, *, thresholds: tuple[float, float] = (0.7, 0.7), max_shift: float = 0.3,
                 backend: str = "torch", threads: int | None = None) -> None:
        from facenet_pytorch.models.mtcnn import ONet, RNet

        self.rnet, self.onet = RNet(pretrained=True).eval(), ONet(pretrained=True).eval()
        self.thresholds = thresholds
        self.max_shift = max_shift
        # in onnxruntime the refinement takes half the time (PyTorch's max pooling with ceil_mode
        # took 42% of it on a CPU)
        self.sessions = self._onnx_sessions(threads) if backend == "onnx" else None

    def _onnx_sessions(self, threads: int | None) -> list[Any] | None:
        """onnxruntime sessions, or None (PyTorch) where the networks cannot be exported (said on stderr, once)."""
        from facerec.errors import OnnxExportError

        try:
            return _sessions(self.rnet, self.onet, threads)
        except OnnxExportError:
            return None

    def refine(self, images: Sequence[np.ndarray], found: Sequence[Sequence[Face]]) -> list[list[Face]]:
        """The same faces (boxes, scores, detector names) with MTCNN's landmarks.

        Each network runs once over the faces of all ``images`` (one call per image would cost more
        than the networks themselves).
        """
        from facenet_pytorch.models.utils.detect_face import bbreg, rerec

        faces = [face for image_faces in found for face in image_faces]
        if not faces:
            return [[] for _ in found]
        with torch.inference_mode():
            owner = [i for i, image_faces in enumerate(found) for _ in image_faces]
            # float copies (the images may be read-only) of the images with faces
            pixels = {i: torch.tensor(images[i]).permute(2, 0, 1).float() for i in set(owner)}
            boxes = rerec(torch.tensor([f.box for f in faces], dtype=torch.float32))
            reg, prob = self._run(0, _crops_of(pixels, owner, boxes, 24))
            trusted = prob[:, 1] >= self.thresholds[0]
            boxes = rerec(bbreg(torch.cat([boxes, prob[:, 1:2]], 1), reg)[:, :4].clone())
            _, points, prob = self._run(1, _crops_of(pixels, owner, boxes, 48))
            trusted &= prob[:, 1] >= self.thresholds[1]
            width = boxes[:, 2:3] - boxes[:, 0:1] + 1
            height = boxes[:, 3:4] - boxes[:, 1:2] + 1
            xs = (width * points[:, :5] + boxes[:, 0:1] - 1).numpy()
            ys = (height * points[:, 5:] + boxes[:, 1:2] - 1).numpy()
        placed = np.stack([xs, ys], -1).astype(np.float64)
        kept = trusted.numpy() & (_shift(placed, [f.landmarks for f in faces]) <= self.max_shift)
        refined: list[list[Face]] = [[] for _ in found]
        for i, face, points_i, ok in zip(owner, faces, placed.tolist(), kept.tolist()):
            refined[i].append(Face(face.box, face.score, tuple(map(tuple, points_i)), face.detector) if ok else face)
        return refined

    def _run(self, which: int, crops: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """R-Net (``which=0``) or O-Net (1) on ``crops``, in onnxruntime when there are sessions."""
        if self.sessions is None:
            return tuple((self.rnet, self.onet)[which](crops))
        outputs = self.sessions[which].run(None, {"input": crops.numpy()})
        return tuple(torch.from_numpy(out) for out in outputs)


def _sessions(rnet: torch.nn.Module, onet: torch.nn.Module, threads: int | None) -> list[Any]:
    """onnxruntime sessions over R-Net and O-Net, exported once and cached by their weights' sha256."""
    import facenet_pytorch

    from facerec.models.weights import sha256_file
    from facerec.runtime import cached_onnx, onnx_session

    data = Path(facenet_pytorch.__file__).parent / "data"
    sessions = []
    nets = (("rnet", rnet, 24, ["reg", "prob"]), ("onet", onet, 48, ["reg", "points", "prob"]))
    for name, net, size, outputs in nets:
        digest = sha256_file(data / f"{name}.pt")
        path = cached_onnx(f"mtcnn-{name}", digest, functools.partial(_example, net, size),
                           inputs=["input"], outputs=outputs,
                           dynamic_axes={key: {0: "batch"} for key in ["input", *outputs]})
        sessions.append(onnx_session(path, threads))
    return sessions


def _example(net: torch.nn.Module, size: int) -> tuple[torch.nn.Module, torch.Tensor]:
    return net, torch.zeros(1, 3, size, size)


def _shift(points: np.ndarray, landmarks: Sequence[Any]) -> np.ndarray:
    """Per face, the largest distance between two landmark sets, in units of the eye distance."""
    own = np.asarray(landmarks, dtype=np.float64).reshape(len(landmarks), 5, 2)
    eyes = np.maximum(np.linalg.norm(own[:, 0] - own[:, 1], axis=1), 1.0)
    return np.linalg.norm(points - own, axis=2).max(axis=1) / eyes


def _crops_of(pixels: dict[int, torch.Tensor], owner: Sequence[int], boxes: torch.Tensor,
              size: int) -> torch.Tensor:
    """The crops of every face, each from its own image (``owner``), in face order."""
    out = torch.empty(len(owner), 3, size, size)
    for i, image in pixels.items():
        rows = [k for k, o in enumerate(owner) if o == i]
        out[rows] = _crops(image, boxes[rows], size)
    return out


def _crops(pixels: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """MTCNN's crops of ``boxes`` (clipped to the image), resized to ``size`` and normalised."""
    from facenet_pytorch.models.utils.detect_face import imresample, pad

    height, width = pixels.shape[1:]
    top, bottom, left, right = pad(boxes, width, height)
    crops = []
    for y0, y1, x0, x1 in zip(top, bottom, left, right):
        if y1 > y0 - 1 and x1 > x0 - 1:
            crops.append(imresample(pixels[:, y0 - 1 : y1, x0 - 1 : x1].unsqueeze(0), (size, size)))
        else:  # a box wholly outside the image: nothing to see
            crops.append(torch.zeros(1, 3, size, size))
    return (torch.cat(crops) - 127.5) * 0.0078125


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
