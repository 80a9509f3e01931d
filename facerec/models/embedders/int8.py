"""8-bit integer inference for embedders: the ONNX export, quantized with activation ranges measured once.

Static quantization (onnxruntime QDQ: weights int8 per output channel, activations uint8) needs the range
of every activation. They are measured once, on aligned faces, by ``scripts/calibrate_int8.py`` and kept
beside this module (``calibration/<model>-<tag>.json``, tied to the weights' sha256), so users need no
calibration photos. The quantized model is made from the fp32 ONNX file by onnxruntime alone (no torch) on first
use, and cached (and checked, see :func:`facerec.runtime.checked_cache_file`).
On a CPU with AVX-512 VNNI it ran 2.3x the fp32 model's faces/s (expect less without VNNI); its
embeddings lie within cosine 0.99 of the fp32 ones (the README gives what that costs in accuracy).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

import numpy as np

from facerec.errors import PrecisionError
from facerec.fileio import sha256_file
from facerec.models.weights import Weights
from facerec.runtime import checked_cache_file, note, onnx_cache_dir

__all__ = ["Precision", "PRECISIONS", "calibration_path", "resolve_precision", "quantized_onnx", "calibrate"]

Precision = Literal["int8", "fp32"]
#: What ``--precision`` accepts: ``auto`` is int8 where the weights have a calibration and the backend is onnx.
PRECISIONS: tuple[str, ...] = ("auto", "int8", "fp32")
CALIBRATION_DIR = Path(__file__).with_name("calibration")


def calibration_path(weights: Weights) -> Path | None:
    """The calibration file of ``weights``, if there is one made for exactly these weights (by sha256)."""
    path = CALIBRATION_DIR / f"{weights.model}-{weights.tag}.json"
    if weights.sha256 is None or not path.is_file():
        return None
    return path if _calibrated_weights(path) == weights.sha256 else None


@functools.lru_cache(maxsize=None)
def _calibrated_weights(path: Path) -> str:
    """The sha256 of the weights a calibration file was made for (read once per process)."""
    return json.loads(path.read_text())["weights_sha256"]


def resolve_precision(precision: str, backend: str, weights: Weights) -> Precision:
    """``int8`` or ``fp32`` for ``precision`` (``auto``, ``int8`` or ``fp32``); a clear error where int8 cannot run."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return "fp32"
    calibrated = calibration_path(weights) is not None
    if precision == "auto":
        return "int8" if backend == "onnx" and calibrated else "fp32"
    if backend != "onnx":
        raise PrecisionError("int8 runs in onnxruntime only: use the onnx backend, or fp32",
                             hint="--backend onnx, or --precision fp32")
    if not calibrated:
        raise PrecisionError(f"{weights.key} has no int8 calibration (scripts/calibrate_int8.py makes one); "
                             "use --precision fp32")
    return "int8"


def _options(calibration: dict[str, Any]) -> dict[str, Any]:
    """quantize_static's settings: the same when ranges are measured and when they are used."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType

    return {"quant_format": QuantFormat.QDQ, "per_channel": True, "activation_type": QuantType.QUInt8,
            "weight_type": QuantType.QInt8, "nodes_to_exclude": list(calibration["float_nodes"]),
            "calibrate_method": CalibrationMethod.Percentile,
            "extra_options": {"CalibPercentile": calibration["percentile"]}}


#: How an int8 model is made from an fp32 ONNX file: part of what a cached int8 model is made from.
RECIPE = "onnxruntime quantize_static QDQ per-channel u8/s8 v1"


def quantized_onnx(fp32: Path, calibration: Path) -> Path:
    """The int8 model of the ONNX file ``fp32`` with the ranges of ``calibration``, made by onnxruntime once and
    cached (in the ONNX cache, named by both files' sha256; checked on every use, as exports are)."""
    text = calibration.read_text()
    source = sha256_file(fp32)
    made_of = hashlib.sha256(f"{source}\n{text}".encode()).hexdigest()[:12]
    path = onnx_cache_dir() / f"{fp32.stem}-int8-{made_of}.onnx"

    def quantize(tmp: Path) -> None:
        from onnxruntime.quantization import quantize_static  # only here: a cached int8 model runs without it

        settings = json.loads(text)
        _check_tensors(fp32, settings["ranges"]["data"])
        if not path.is_file():
            note(f"quantizing {fp32.stem} to int8, once (cached in {path.parent})")
        with tempfile.TemporaryDirectory(prefix="facerec-int8-") as folder:
            ranges = Path(folder) / "ranges.json"
            ranges.write_text(json.dumps(settings["ranges"]))
            with _quiet():  # onnxruntime logs advice on the root logger
                quantize_static(str(fp32), str(tmp), None, calibration_cache_path=str(ranges), **_options(settings))

    digest = hashlib.sha256(text.encode()).hexdigest()
    return checked_cache_file(path, quantize, source=f"{source}\n{digest}\n{RECIPE}")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _check_tensors(fp32: Path, ranges: dict[str, Any]) -> None:
    """The calibration names tensors of this export: one made on another export would quantize nothing."""
    import onnx

    graph = onnx.load(str(fp32)).graph
    names = {out for node in graph.node for out in node.output} | {i.name for i in graph.input}
    if not ranges or (unknown := set(ranges) - names):
        example = sorted(unknown)[0] if ranges else "none"
        raise PrecisionError(f"the int8 calibration does not fit this ONNX export (a range for {example!r}, which "
                             "it does not have); use --precision fp32")


def calibrate(
    fp32: Path, batches: Iterable[np.ndarray], *, float_nodes: list[str], percentile: float
) -> dict[str, Any]:
    """Measure the activation ranges of ``fp32`` on ``batches`` (``N x 3 x S x S`` float32 pixels in [0, 1]).

    Returns what :func:`quantized_onnx` reads from a calibration file, less the metadata.
    """
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"pixels": batch}

    settings = {"float_nodes": float_nodes, "percentile": percentile}
    with tempfile.TemporaryDirectory(prefix="facerec-int8-") as folder:
        ranges = Path(folder) / "ranges.json"
        quantize_static(str(fp32), str(Path(folder) / "int8.onnx"), Reader(), calibration_cache_path=str(ranges),
                        **_options(settings))
        return {**settings, "ranges": json.loads(ranges.read_text())}
