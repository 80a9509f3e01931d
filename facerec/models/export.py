"""``facerec models export``: the default pipeline's ONNX files made again from their PyTorch weights.

The published ONNX files (MobileFaceNet, RetinaFace, MTCNN's R-Net and O-Net) are what a torch-free install
runs; they were made by this recipe (:func:`facerec.runtime.export_onnx`, opset 17) from the PyTorch files.
With the torch extra this makes them again, so that anyone can check them: same outputs always, and the same
bytes where the exporter is the same version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facerec.fileio import atomic_path, sha256_file
from facerec.models.weights import WeightsFile, resolve_weights
from facerec.runtime import import_torch

__all__ = ["ExportedFile", "export_default_pipeline"]


@dataclass(frozen=True)
class ExportedFile:
    """One file written: its path, sha256, and whether that is the published file's."""

    path: Path
    sha256: str
    published: WeightsFile

    @property
    def identical(self) -> bool:
        return self.sha256 == self.published.sha256


def export_default_pipeline(out: str | Path) -> list[ExportedFile]:
    """Write the default pipeline's ONNX files into the folder ``out`` (made if needed), from their PyTorch
    weights (found as usual: ``FACEREC_WEIGHTS_DIR``, the cache, a checked download). Needs the torch extra."""
    torch = import_torch("facerec models export")
    from facerec.models.detectors import get_detector_spec
    from facerec.models.detectors.landmarks import MTCNN_ONNX, _facenet_data
    from facerec.models.detectors.retinaface import _DYNAMIC, RetinaFaceDetector
    from facerec.models.embedders import get_weights, model_file
    from facerec.models.embedders.embedder import raw_module
    from facerec.models.embedders.onnx import ModelFile
    from facerec.runtime import export_onnx

    folder = Path(out).expanduser()
    written: list[ExportedFile] = []

    def write(published: WeightsFile | None, module: Any, example: Any, inputs: list[str], outputs: list[str],
              dynamic: dict[str, dict[int, str]]) -> None:
        assert published is not None  # noqa: S101 - every part of the default pipeline has a published file
        target = folder / published.filename
        with atomic_path(target) as tmp:
            export_onnx(module, example, tmp, inputs=inputs, outputs=outputs, dynamic_axes=dynamic)
        written.append(ExportedFile(target, sha256_file(target), published))

    entry = get_weights("mobilefacenet")
    source = model_file("mobilefacenet", weights_path=resolve_weights(entry))
    assert isinstance(source, ModelFile) and source.load is not None  # noqa: S101 - a .pt file
    write(entry.onnx, raw_module(source.load()), torch.rand(2, 3, 112, 112), ["pixels"], ["raw"],
          {"pixels": {0: "batch"}, "raw": {0: "batch"}})
    spec = get_detector_spec("retinaface")
    assert spec.weights is not None  # noqa: S101
    detector = RetinaFaceDetector(weights_path=resolve_weights(spec.weights), backend="torch")
    write(spec.onnx, detector.net, torch.zeros(1, 3, 320, 320), ["input"], ["loc", "conf", "landms"], _DYNAMIC)
    _facenet_data()  # a clear error where facenet-pytorch is missing
    from facenet_pytorch.models.mtcnn import ONet, RNet

    nets = (("rnet", RNet, 24, ["reg", "prob"]), ("onet", ONet, 48, ["reg", "points", "prob"]))
    for name, net, size, outputs in nets:
        write(MTCNN_ONNX[name], net(pretrained=True).eval(), torch.zeros(1, 3, size, size), ["input"], outputs,
              {key: {0: "batch"} for key in ["input", *outputs]})
    return written
