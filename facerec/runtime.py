"""Inference runtimes: thread counts, and onnxruntime sessions over PyTorch modules exported once.

A PyTorch module is exported to ONNX the first time it is needed and the file is cached under a
name that carries its weights' sha256, so changed weights get a new export and stale files are
never used. PyTorch stays for training and attacks, which need gradients.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal

from filelock import FileLock
from platformdirs import user_cache_dir

from facerec.fileio import atomic_path

if TYPE_CHECKING:
    import onnxruntime
    import torch

__all__ = ["Backend", "BACKENDS", "cpu_count", "resolve_threads", "onnx_cache_dir", "onnx_session", "cached_onnx"]

Backend = Literal["onnx", "torch"]
BACKENDS: tuple[str, ...] = ("onnx", "torch")
OPSET = 17


def cpu_count() -> int:
    """Cores this process may use (its CPU affinity, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_threads(threads: int | None = None) -> int:
    """``threads``, else ``$FACEREC_THREADS``, else the number of usable cores; never more than the cores."""
    if threads is None:
        env = os.environ.get("FACEREC_THREADS", "").strip()
        threads = int(env) if env.isdigit() and int(env) > 0 else cpu_count()
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    return min(threads, cpu_count())


def onnx_cache_dir() -> Path:
    """Where exported ONNX files are kept: ``$FACEREC_CACHE_DIR/onnx`` or the user cache."""
    base = os.environ.get("FACEREC_CACHE_DIR")
    return (Path(base).expanduser() if base else Path(user_cache_dir("facerec"))) / "onnx"


def onnx_session(path: Path, threads: int | None = None) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session over ``path`` with ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = resolve_threads(threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle threads sleep instead of spinning: the detector's and the embedder's sessions run at the
    # same time in the pipeline, and spinning threads steal the cores the other one needs
    # (measured: about 35% more photos/s end to end on 2 busy cores).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def cached_onnx(name: str, digest: str, build: Callable[[], tuple[torch.nn.Module, torch.Tensor]], *,
                inputs: list[str], outputs: list[str], dynamic_axes: dict[str, dict[int, str]]) -> Path:
    """The ONNX export of the module ``build()`` returns (with an example input), cached by ``digest``.

    Exported once, to a temporary file then moved into place under a file lock, so concurrent
    processes never read a half-written file.
    """
    import torch

    folder = onnx_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{digest[:16]}-opset{OPSET}.onnx"
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            return path
        module, example = build()
        with atomic_path(path) as tmp, torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(module.eval(), (example,), str(tmp), input_names=inputs, output_names=outputs,
                              dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False)
    return path
