"""RetinaFace (Deng et al. 2019) with a MobileNet-0.25 backbone: biubug6's configuration ``cfg_mnet``
(anchors 16/32, 64/128, 256/512 on strides 8, 16, 32, variances 0.1 and 0.2).

Prior boxes and decoding, then the detector, in numpy and onnxruntime. It runs the published ONNX file
(``retinaface-mnet025-opset17.onnx``) when given it, with no torch at all; the network itself
(:class:`~facerec.models.detectors.retinaface_net.RetinaFaceNet`, PyTorch) is imported only to export it
to ONNX from the ``.pth`` file the first time, or for ``backend="torch"``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facerec.detection import Face
from facerec.errors import OnnxExportError, WeightsError, WeightsNotFoundError
from facerec.fileio import atomic_path
from facerec.models.detectors.base import Detector, group_by_shape, keep_faces, shrink
from facerec.models.state import load_state
from facerec.models.weights import sha256_file
from facerec.runtime import OPSET, cached_onnx, export_onnx, onnx_session

if TYPE_CHECKING:
    from facerec.models.detectors.retinaface_net import RetinaFaceNet

__all__ = ["RetinaFaceDetector", "RetinaFaceNet", "decode_boxes", "decode_landmarks", "prior_boxes"]

MIN_SIZES = ((16, 32), (64, 128), (256, 512))
STEPS = (8, 16, 32)
VARIANCES = (0.1, 0.2)
BGR_MEAN = (104.0, 117.0, 123.0)
#: The published ONNX file's sha256 -> that of the ``.pth`` it was exported from (the same network: detection
#: caches keyed by the detector's settings stay valid whichever file runs it).
PUBLISHED_ONNX = {"8a6b715c37d7f5cf6af1f340c0ecc380673a482529d8b4a82cfda9d36ca4867b":
                  "2979b33ffafda5d74b6948cd7a5b9a7a62f62b949cef24e95fd15d2883a65220"}


@lru_cache(maxsize=32)
def prior_boxes(height: int, width: int) -> np.ndarray:
    """The P x 4 prior boxes (cx, cy, w, h, as fractions of the image) in the network's output order.

    Per stride s: ceil(H/s) x ceil(W/s) cells, row by row, two anchors each.
    """
    parts = []
    for step, sizes in zip(STEPS, MIN_SIZES):
        rows, cols = math.ceil(height / step), math.ceil(width / step)
        cy, cx = np.meshgrid((np.arange(rows) + 0.5) * step / height, (np.arange(cols) + 0.5) * step / width,
                             indexing="ij")
        centres = np.broadcast_to(np.stack([cx, cy], -1).reshape(-1, 1, 2), (rows * cols, len(sizes), 2))
        extents = np.broadcast_to([[s / width, s / height] for s in sizes], (rows * cols, len(sizes), 2))
        parts.append(np.concatenate([centres, extents], -1).reshape(-1, 4))
    priors = np.concatenate(parts).astype(np.float32)
    priors.flags.writeable = False  # shared by the cache
    return priors


def decode_boxes(loc: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Box offsets (... x 4) to corners x1, y1, x2, y2 as fractions of the image."""
    centres = priors[..., :2] + loc[..., :2] * VARIANCES[0] * priors[..., 2:]
    sizes = priors[..., 2:] * np.exp(loc[..., 2:] * VARIANCES[1])
    return np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=-1)


def decode_landmarks(landms: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Landmark offsets (... x 10) to ... x 5 x 2 points as fractions of the image."""
    offsets = landms.reshape(*landms.shape[:-1], 5, 2)
    return priors[..., None, :2] + offsets * VARIANCES[0] * priors[..., None, 2:]


class RetinaFaceDetector(Detector):
    """RetinaFace over one image or many; same-sized images run as one batch.

    Photos whose longest side exceeds ``max_side`` are shrunk first; coordinates are
    mapped back to the original pixels. ``backend="onnx"`` runs the network exported to ONNX
    (cached by the weights' sha256) in onnxruntime; ``"torch"`` runs the module itself.

    >>> detector = RetinaFaceDetector(weights_path="../shared/weights/retinaface/mobilenet0.25_Final.pth")
    >>> detector.detect([np.zeros((8, 8, 3), np.uint8)])
    [[]]
    """

    name = "retinaface"

    def __init__(self, *, weights_path: str | Path, min_score: float = 0.9, nms_iou: float = 0.4,
                 max_side: int = 640, batch_size: int = 16, backend: str = "torch", threads: int | None = None) -> None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(f"RetinaFace weights file {path} does not exist")
        self.path = path
        self.min_score, self.nms_iou, self.max_side, self.batch_size = min_score, nms_iou, max_side, batch_size
        digest = sha256_file(path)
        self._net: RetinaFaceNet | None = None
        self.session = None
        if path.suffix.lower() == ".onnx":  # the network in ONNX already (no .pth: --backend torch cannot run it)
            self.session = onnx_session(path, threads)
            digest = PUBLISHED_ONNX.get(digest, digest)
        elif backend == "onnx":
            with contextlib.suppress(OnnxExportError):  # said on stderr, once; the module runs instead
                onnx = cached_onnx("retinaface-mnet025", digest, self._example, inputs=["input"],
                                   outputs=["loc", "conf", "landms"], dynamic_axes=_DYNAMIC,
                                   known=tuple(k for k, v in PUBLISHED_ONNX.items() if v == digest))
                self.session = onnx_session(onnx, threads)
        if self.session is None:
            self.net  # noqa: B018 - a file that does not fit says so now, not at the first photo
        self._settings = {"name": self.name, "weights_sha256": digest, "min_score": min_score, "nms_iou": nms_iou,
                          "max_side": max_side, "version": 1}

    @property
    def net(self) -> RetinaFaceNet:
        """The PyTorch network with its weights, built on first use (to export it, or without onnxruntime)."""
        if self._net is None:
            if self.path.suffix.lower() == ".onnx":
                raise WeightsError(f"{self.path} is RetinaFace in ONNX: the PyTorch network needs its .pth file")
            from facerec.models.detectors.retinaface_net import RetinaFaceNet

            net = RetinaFaceNet()
            load_state(net, self.path.read_bytes(), source=str(self.path), model="RetinaFace MobileNet-0.25",
                       rename=lambda key: key.removeprefix("module."))
            self._net = net.eval()
        return self._net

    def _example(self) -> tuple[Any, Any]:
        import torch

        return self.net, torch.zeros(1, 3, 320, 320)

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        results: list[list[Face]] = [[] for _ in images]
        scaled = [shrink(image, self.max_side)[0] for image in images]
        for indices in group_by_shape(scaled):
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start:start + self.batch_size]
                loc, conf, landms = self._forward(_to_input(np.stack([scaled[i] for i in chunk])))
                for row, i in enumerate(chunk):
                    results[i] = self._faces(loc[row], conf[row, :, 1], landms[row], scaled[i].shape, images[i].shape)
        return results

    def _forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The raw network: N x 3 x H x W float32 in, ``(loc, conf, landms)`` as arrays out."""
        if self.session is not None:
            loc, conf, landms = self.session.run(None, {"input": batch})
            return loc, conf, landms
        import torch

        with torch.inference_mode():
            loc_t, conf_t, landms_t = self.net(torch.from_numpy(batch))
        return loc_t.numpy(), conf_t.numpy(), landms_t.numpy()

    def _faces(self, loc: np.ndarray, scores: np.ndarray, landms: np.ndarray,
               scaled_shape: tuple[int, ...], shape: tuple[int, ...]) -> list[Face]:
        keep = np.flatnonzero(scores >= self.min_score)
        if keep.size == 0:
            return []
        priors = prior_boxes(*scaled_shape[:2])[keep]
        height, width = shape[:2]  # fractions of the shrunk image are fractions of the original
        boxes = decode_boxes(loc[keep], priors) * np.array([width, height, width, height], np.float32)
        points = decode_landmarks(landms[keep], priors) * np.array([width, height], np.float32)
        return keep_faces(boxes, scores[keep], points.reshape(len(keep), 10), min_score=self.min_score,
                          nms_iou=self.nms_iou, scale=1.0, name=self.name)

    def export_onnx(self, path: str | Path, *, opset: int = 17) -> Path:
        """Write the network to ONNX with dynamic batch, height and width (atomically)."""
        import torch

        with atomic_path(path) as tmp:
            if opset == OPSET:
                export_onnx(self.net, torch.zeros(1, 3, 320, 320), tmp, inputs=["input"],
                            outputs=["loc", "conf", "landms"], dynamic_axes=_DYNAMIC)
            else:
                torch.onnx.export(self.net, (torch.zeros(1, 3, 320, 320),), str(tmp), input_names=["input"],
                                  output_names=["loc", "conf", "landms"], dynamic_axes=_DYNAMIC,
                                  opset_version=opset, dynamo=False)
        return Path(path)


_DYNAMIC = {"input": {0: "batch", 2: "height", 3: "width"},
            **{name: {0: "batch", 1: "priors"} for name in ("loc", "conf", "landms")}}


def _to_input(batch: np.ndarray) -> np.ndarray:
    """N x H x W x 3 RGB uint8 to the network's N x 3 x H x W BGR float32 minus the mean."""
    bgr = batch[..., ::-1].astype(np.float32) - np.array(BGR_MEAN, np.float32)
    return np.ascontiguousarray(bgr.transpose(0, 3, 1, 2))


def __getattr__(name: str) -> Any:
    """``RetinaFaceNet`` from :mod:`facerec.models.detectors.retinaface_net`, imported (with torch) when asked for."""
    if name == "RetinaFaceNet":
        from facerec.models.detectors.retinaface_net import RetinaFaceNet

        return RetinaFaceNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
