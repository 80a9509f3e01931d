"""RetinaFace (Deng et al. 2019) with a MobileNet-0.25 backbone, laid out so that
``mobilenet0.25_Final.pth`` from biubug6's PyTorch implementation (MIT) loads with
``strict=True``; its configuration ``cfg_mnet``: anchors 16/32, 64/128, 256/512 on strides
8, 16, 32, variances 0.1 and 0.2.

Blocks first, then the network, then prior boxes and decoding, then the detector.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facerec.detection import Face
from facerec.errors import OnnxExportError, WeightsNotFoundError
from facerec.fileio import atomic_path
from facerec.models.detectors.base import Detector, group_by_shape, keep_faces, shrink
from facerec.models.state import load_state
from facerec.runtime import cached_onnx, onnx_session

__all__ = ["RetinaFaceDetector", "RetinaFaceNet", "decode_boxes", "decode_landmarks", "prior_boxes"]

MIN_SIZES = ((16, 32), (64, 128), (256, 512))
STEPS = (8, 16, 32)
VARIANCES = (0.1, 0.2)
BGR_MEAN = (104.0, 117.0, 123.0)


def _conv_bn(cin: int, cout: int, *, kernel: int = 3, stride: int = 1, leaky: float | None = 0.0) -> nn.Sequential:
    """Convolution and batch norm (keys ``0``, ``1``), then a leaky ReLU unless ``leaky`` is None."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    if leaky is not None:
        layers.append(nn.LeakyReLU(leaky, inplace=True))
    return nn.Sequential(*layers)


def _conv_dw(cin: int, cout: int, stride: int) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1, each with batch norm and a leaky ReLU (slope 0.1)."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.LeakyReLU(0.1, inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1, inplace=True),
    )


class MobileNetV1Body(nn.Module):
    """MobileNet-0.25 up to its last stage; returns the maps at strides 8, 16 and 32."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            _conv_bn(3, 8, stride=2, leaky=0.1), _conv_dw(8, 16, 1), _conv_dw(16, 32, 2),
            _conv_dw(32, 32, 1), _conv_dw(32, 64, 2), _conv_dw(64, 64, 1),
        )
        self.stage2 = nn.Sequential(_conv_dw(64, 128, 2), *(_conv_dw(128, 128, 1) for _ in range(5)))
        self.stage3 = nn.Sequential(_conv_dw(128, 256, 2), _conv_dw(256, 256, 1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c3 = self.stage1(x)
        c4 = self.stage2(c3)
        return c3, c4, self.stage3(c4)


class FPN(nn.Module):
    """Feature pyramid: 1x1 lateral convolutions, nearest upsampling, 3x3 merges."""

    def __init__(self, in_channels: tuple[int, int, int], out_channels: int) -> None:
        super().__init__()
        self.output1, self.output2, self.output3 = (
            _conv_bn(cin, out_channels, kernel=1, leaky=0.1) for cin in in_channels
        )
        self.merge1 = _conv_bn(out_channels, out_channels, leaky=0.1)
        self.merge2 = _conv_bn(out_channels, out_channels, leaky=0.1)

    def forward(self, maps: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        out1, out2, out3 = self.output1(maps[0]), self.output2(maps[1]), self.output3(maps[2])
        # the size is read from the tensor, so an ONNX export keeps height and width dynamic
        out2 = self.merge2(out2 + F.interpolate(out3, size=out2.shape[-2:], mode="nearest"))
        out1 = self.merge1(out1 + F.interpolate(out2, size=out1.shape[-2:], mode="nearest"))
        return out1, out2, out3


class SSH(nn.Module):
    """Single-stage headless context module: 3x3, 5x5 and 7x7 receptive fields, concatenated."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv3X3 = _conv_bn(cin, cout // 2, leaky=None)
        self.conv5X5_1 = _conv_bn(cin, cout // 4, leaky=0.1)
        self.conv5X5_2 = _conv_bn(cout // 4, cout // 4, leaky=None)
        self.conv7X7_2 = _conv_bn(cout // 4, cout // 4, leaky=0.1)
        self.conv7x7_3 = _conv_bn(cout // 4, cout // 4, leaky=None)

    def forward(self, x: Tensor) -> Tensor:
        branch = self.conv5X5_1(x)
        wide = self.conv7x7_3(self.conv7X7_2(branch))
        return F.relu(torch.cat([self.conv3X3(x), self.conv5X5_2(branch), wide], dim=1))


class Head(nn.Module):
    """A 1x1 convolution giving ``values`` numbers per anchor, flattened to N x anchors x values."""

    def __init__(self, cin: int, anchors: int, values: int) -> None:
        super().__init__()
        self.values = values
        self.conv1x1 = nn.Conv2d(cin, anchors * values, 1)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1x1(x).permute(0, 2, 3, 1)
        return out.reshape(out.shape[0], -1, self.values)


class RetinaFaceNet(nn.Module):
    """N x 3 x H x W (BGR minus ``BGR_MEAN``) in; ``(loc, conf, landms)`` out.

    ``loc`` is N x P x 4 box offsets, ``conf`` N x P x 2 softmaxed (column 1: face),
    ``landms`` N x P x 10 landmark offsets, for the P prior boxes of :func:`prior_boxes`.
    """

    def __init__(self, channels: int = 64, anchors: int = 2) -> None:
        super().__init__()
        self.body = MobileNetV1Body()
        self.fpn = FPN((64, 128, 256), channels)
        self.ssh1, self.ssh2, self.ssh3 = SSH(channels, channels), SSH(channels, channels), SSH(channels, channels)
        self.ClassHead = nn.ModuleList(Head(channels, anchors, 2) for _ in STEPS)
        self.BboxHead = nn.ModuleList(Head(channels, anchors, 4) for _ in STEPS)
        self.LandmarkHead = nn.ModuleList(Head(channels, anchors, 10) for _ in STEPS)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        p3, p4, p5 = self.fpn(self.body(x))
        features = (self.ssh1(p3), self.ssh2(p4), self.ssh3(p5))
        loc = torch.cat([head(f) for head, f in zip(self.BboxHead, features)], dim=1)
        conf = torch.cat([head(f) for head, f in zip(self.ClassHead, features)], dim=1)
        landms = torch.cat([head(f) for head, f in zip(self.LandmarkHead, features)], dim=1)
        return loc, F.softmax(conf, dim=-1), landms


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
        data = path.read_bytes()
        self.net = RetinaFaceNet()
        load_state(self.net, data, source=str(path), model="RetinaFace MobileNet-0.25",
                   rename=lambda key: key.removeprefix("module."))
        self.net.eval()
        self.min_score, self.nms_iou, self.max_side, self.batch_size = min_score, nms_iou, max_side, batch_size
        digest = hashlib.sha256(data).hexdigest()
        self.session = None
        if backend == "onnx":
            with contextlib.suppress(OnnxExportError):  # said on stderr, once; the module runs instead
                onnx = cached_onnx("retinaface-mnet025", digest, lambda: (self.net, torch.zeros(1, 3, 320, 320)),
                                   inputs=["input"], outputs=["loc", "conf", "landms"], dynamic_axes=_DYNAMIC)
                self.session = onnx_session(onnx, threads)
        self._settings = {"name": self.name, "weights_sha256": digest, "min_score": min_score, "nms_iou": nms_iou,
                          "max_side": max_side, "version": 1}

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
        with atomic_path(path) as tmp:
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
