"""The detector registry: ``get_detector(name)`` and ``list_detectors()``.

Every detector returns :class:`~facerec.detection.Face` objects (box, score, 5 landmarks in image
pixels). A name may list several detectors separated by commas (``"yunet,retinaface"``): a
:class:`~facerec.models.detectors.cascade.Cascade` that tries the next one only where the earlier
ones found no face. Weights entries share the embedders' mechanism (:class:`WeightsFile`: URL,
sha256, license; ``FACEREC_WEIGHTS_DIR``, the cache, a checked download).

>>> list_detectors()
['mtcnn', 'retinaface', 'yolo-face', 'yunet', 'yunet-s']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from facerec.errors import UnknownModelError, WeightsNotFoundError
from facerec.models.detectors.base import Detector, DetectorOptions, DetectorSettings
from facerec.models.detectors.cascade import Cascade, Step
from facerec.models.weights import WeightsFile, resolve_weights
from facerec.runtime import Backend

__all__ = ["DEFAULT_DETECTOR", "DEFAULT_LANDMARKS", "LANDMARKS", "Detector", "DetectorSpec", "Cascade",
           "build_detector", "get_detector", "list_detectors", "get_detector_spec", "register_detector"]

#: Chosen by ``scripts/bench_verify.py`` and ``scripts/eval_identify.py`` (see the README).
DEFAULT_DETECTOR = "yunet,retinaface"

#: A detector's builder: its weights file (None for one without) and the pipeline's config, whole (backend,
#: threads, and the detector options: ``min_score``, ``nms_iou``, ``max_side``); its backend is one the detector
#: runs on.
Build = Callable[[Path | None, DetectorSettings], Detector]
Landmarks = Literal["mtcnn", "detector"]
LANDMARKS: tuple[str, ...] = ("mtcnn", "detector")
#: Who places the landmarks by default, chosen by ``scripts/eval_landmarks.py`` (see the README).
DEFAULT_LANDMARKS: Landmarks = "mtcnn"


@dataclass(frozen=True)
class DetectorSpec:
    """A registered detector: how to build it from its weights file and the pipeline's config."""

    name: str
    build: Build
    weights: WeightsFile | None
    backends: tuple[str, ...]
    note: str
    #: For a detector with no published weights (none in ``weights``, none bundled with a package): where
    #: the weights the user trained are found here, or None. ``note`` says how to make them.
    trained_weights: Callable[[], Path | None] | None = None
    #: The published ONNX file of a PyTorch detector (found like its weights): what the onnx backend runs
    #: where it is found, with no torch; else the network is exported from ``weights`` once.
    onnx: WeightsFile | None = None

    @property
    def released(self) -> bool:
        """Whether published weights exist (a weights entry, or bundled with a package)."""
        return self.trained_weights is None


_REGISTRY: dict[str, DetectorSpec] = {}


def register_detector(spec: DetectorSpec) -> None:
    """Add a detector; a name already registered (or one with a comma) is refused."""
    if spec.name in _REGISTRY or "," in spec.name:
        raise ValueError(f"cannot register a detector named {spec.name!r}")
    _REGISTRY[spec.name] = spec


def list_detectors() -> list[str]:
    """Names accepted by :func:`get_detector`, sorted."""
    return sorted(_REGISTRY)


def get_detector_spec(name: str) -> DetectorSpec:
    if name not in _REGISTRY:
        raise UnknownModelError(f"unknown detector {name!r}; known detectors: {', '.join(list_detectors())} "
                                "(or several, comma-separated, as a cascade)")
    return _REGISTRY[name]


def get_detector(name: str = DEFAULT_DETECTOR, *, backend: Backend = "onnx", threads: int | None = None,
                 retry: bool = True, landmarks: Landmarks = DEFAULT_LANDMARKS) -> Detector:
    """Build detector ``name`` (or a comma-separated cascade) with its weights and default options: the
    :func:`build_detector` of a pipeline with these settings.

    >>> get_detector("mtcnn").name  # doctest: +SKIP
    'mtcnn'
    """
    if landmarks not in LANDMARKS:
        raise ValueError(f"landmarks must be one of {', '.join(LANDMARKS)}, got {landmarks!r}")
    names = tuple(part.strip() for part in name.split(",") if part.strip())
    if not names:
        raise UnknownModelError("no detector named; known detectors: " + ", ".join(list_detectors()))
    for part in names:
        get_detector_spec(part)  # an unknown name: UnknownModelError, listing the known
    return build_detector(DetectorOptions(detectors=names, backend=backend, threads=threads, landmarks=landmarks),
                          retry=retry)


def build_detector(config: DetectorSettings, *, retry: bool = True) -> Detector:
    """The detector cascade of ``config`` (its ``detectors``), each built from its weights and the config whole
    (backend, threads, and the detector options ``min_score``, ``nms_iou``, ``max_side``).

    With ``retry`` (the default) every detector also gets a second look at the photos where it
    found nothing, on a histogram-equalised copy with a black border (tight crops, side light);
    a second detector then looks at what is still missing, on an equalised and a gamma-lifted copy.
    ``config.landmarks == "mtcnn"`` (the default) re-places the 5 landmarks of every face found by another
    detector with MTCNN's R-Net and O-Net, where they stay within 0.3 eye distances of the
    detector's; ``"detector"`` keeps each detector's own, which is faster and less precise (see
    :mod:`facerec.models.detectors.landmarks`).

    >>> build_detector(DetectorOptions(detectors=("yunet",), min_score=0.6)).settings["min_score"]  # doctest: +SKIP
    0.6
    """
    names = config.detectors
    detectors = [_build(get_detector_spec(part), config) for part in names]
    if config.landmarks == "mtcnn" and any(part != "mtcnn" for part in names):
        from facerec.models.detectors.landmarks import MTCNNLandmarks, Refined

        refiner = MTCNNLandmarks(backend=config.backend, threads=config.threads)
        detectors = [d if part == "mtcnn" else Refined(d, refiner) for part, d in zip(names, detectors)]
    steps: list[Step] = [(detectors[0], "original")]
    if retry:
        steps.append((detectors[0], "equalize"))
        for detector in detectors[1:]:
            steps += [(detector, "equalize"), (detector, "gamma")]
    else:
        steps += [(detector, "original") for detector in detectors[1:]]
    if len(steps) == 1:
        return detectors[0]
    return Cascade(steps, name=config.detector)


def _build(spec: DetectorSpec, config: DetectorSettings) -> Detector:
    runs = config.backend if config.backend in spec.backends else spec.backends[0]
    if runs != config.backend:
        config = config.with_(backend=runs)
    if runs == "onnx" and spec.onnx is not None:
        try:
            return spec.build(resolve_weights(spec.onnx), config)
        except WeightsNotFoundError:
            pass  # not here: the network is exported from its weights file (the torch extra)
    path = resolve_weights(spec.weights) if spec.weights is not None else None
    return spec.build(path, config)


def _mtcnn(path: Path | None, config: DetectorSettings) -> Detector:
    from facerec.models.detectors.mtcnn import MTCNNDetector

    return MTCNNDetector(**config.detector_options("min_score", "max_side"))  # its own NMS, per stage


def _yolo_face(path: Path | None, config: DetectorSettings) -> Detector:
    from facerec.models.detectors.yolo_face import YoloFaceDetector, yolo_weights_path

    return YoloFaceDetector(yolo_weights_path(), **config.detector_options("min_score", "nms_iou"))


def _yolo_trained() -> Path | None:
    from facerec.errors import WeightsNotFoundError
    from facerec.models.detectors.yolo_face import yolo_weights_path

    try:
        return yolo_weights_path()
    except WeightsNotFoundError:
        return None


def _yunet(variant: str) -> Build:
    def build(path: Path | None, config: DetectorSettings) -> Detector:
        from facerec.models.detectors.yunet import YuNetDetector

        assert path is not None  # noqa: S101 - the spec has weights
        return YuNetDetector(weights_path=path, variant=variant, threads=config.threads,
                             **config.detector_options("min_score", "nms_iou", "max_side"))

    return build


def _retinaface(path: Path | None, config: DetectorSettings) -> Detector:
    from facerec.models.detectors.retinaface import RetinaFaceDetector

    assert path is not None  # noqa: S101 - the spec has weights
    return RetinaFaceDetector(weights_path=path, backend=config.backend, threads=config.threads,
                              **config.detector_options("min_score", "nms_iou", "max_side"))


_YUNET = "https://github.com/ShiqiYu/libfacedetection.train/raw/0047ac24afb1a50a0c6105001c89d1b5b805dbf1/onnx"
_FOAMLIU = "https://github.com/foamliu/MobileFaceNet/raw/a6cc9032a659b615f477833e1a70b5e7931bcccc"

register_detector(DetectorSpec(
    name="mtcnn", build=_mtcnn, weights=None, backends=("torch",),
    note="MTCNN (facenet-pytorch; weights inside its wheel); PyTorch only"))
register_detector(DetectorSpec(
    name="yunet", build=_yunet("n"), backends=("onnx",),
    weights=WeightsFile(model="yunet", tag="n", filename="yunet_n_dynamic.onnx", url=f"{_YUNET}/yunet_n_dynamic.onnx",
                        sha256="104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12",
                        license="Apache-2.0",
                        note="YuNet-n (Wu et al. 2023), WIDER FACE hard .811 at 320x320; "
                             "BGR 0-255, sides padded to 32"),
    note="YuNet-n, ONNX (onnxruntime only)"))
register_detector(DetectorSpec(
    name="yunet-s", build=_yunet("s"), backends=("onnx",),
    weights=WeightsFile(model="yunet", tag="s", filename="yunet_s_dynamic.onnx", url=f"{_YUNET}/yunet_s_dynamic.onnx",
                        sha256="daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3",
                        license="Apache-2.0",
                        note="YuNet-s (= opencv_zoo face_detection_yunet_2023mar), WIDER FACE hard .768"),
    note="YuNet-s, ONNX (onnxruntime only)"))
register_detector(DetectorSpec(
    name="retinaface", build=_retinaface, backends=("onnx", "torch"),
    weights=WeightsFile(model="retinaface", tag="mobilenet0.25", filename="mobilenet0.25_Final.pth",
                        url=f"{_FOAMLIU}/retinaface/weights/mobilenet0.25_Final.pth",
                        sha256="2979b33ffafda5d74b6948cd7a5b9a7a62f62b949cef24e95fd15d2883a65220",
                        license="MIT",
                        note="RetinaFace MobileNet-0.25 (biubug6), WIDER FACE hard .740; BGR minus (104, 117, 123)"),
    onnx=WeightsFile(model="retinaface", tag="mobilenet0.25-onnx", filename="retinaface-mnet025-opset17.onnx",
                     url=None, folder="onnx", license="MIT",
                     sha256="8a6b715c37d7f5cf6af1f340c0ecc380673a482529d8b4a82cfda9d36ca4867b",
                     note="the .pth exported by `facerec models export` (opset 17)"),
    note="RetinaFace MobileNet-0.25, our nn.Module; its published ONNX file, or PyTorch (exported to ONNX)"))
register_detector(DetectorSpec(
    name="yolo-face", build=_yolo_face, weights=None, backends=("torch",), trained_weights=_yolo_trained,
    note="the zoo's YOLO-style grid detector; PyTorch. No released weights: train them with `facerec zoo detect "
         "--out runs/yolo` and set FACEREC_YOLO_WEIGHTS=runs/yolo/yolo_face.pt"))
