"""Inference runtimes: thread counts, and onnxruntime sessions over PyTorch modules exported once.

A PyTorch module is exported to ONNX the first time it is needed and the file is cached under a
name that carries its weights' sha256, so changed weights get a new export and stale files are
never used. PyTorch stays for training and attacks, which need gradients.

Every cached file has its own sha256 written beside it (``<file>.sha256``, ``sha256sum`` format) and
checked each time it is used: a file changed or cut short since it was written is made again (with a
one-line note on stderr), never run. A module that cannot be exported is not tried again on every
call: the failure is remembered beside the export (``<file>.failed``, until torch changes version;
what the exporter printed goes to ``<file>.log``) and :class:`~facerec.errors.OnnxExportError` raised.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Literal

from filelock import FileLock
from platformdirs import user_cache_dir

from facerec.errors import OnnxExportError
from facerec.fileio import atomic_path, sha256_file

if TYPE_CHECKING:
    import onnxruntime
    import torch

__all__ = ["Backend", "BACKENDS", "cpu_count", "resolve_threads", "onnx_cache_dir", "onnx_session", "cached_onnx",
           "cache_file_problem", "cache_files_used", "recorded_sha256", "checked_cache_file", "note"]

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


def note(message: str) -> None:
    """One line on stderr: something the user should know that is not an error."""
    print(f"note: {message}", file=sys.stderr, flush=True)


#: Every cached file this process has asked for, in order (``facerec models prepare`` lists them).
_USED: dict[Path, None] = {}


def cache_files_used() -> list[Path]:
    """The cached files (ONNX exports, int8 models) this process has used or made so far, in order."""
    return list(_USED)


def checked_cache_file(path: Path, make: Callable[[Path], None]) -> Path:
    """``path``, made by ``make(tmp)`` the first time and checked against its recorded sha256 on every use.

    ``make`` writes the file at the temporary path it is given, which is moved into place (under a file
    lock, so concurrent processes never read a half-written file); the sha256 is then written beside it.
    A file that no longer has that sha256 (edited, replaced, truncated) or has none recorded is made again.
    """
    _USED.setdefault(path, None)
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            problem = cache_file_problem(path)
            if problem is None:
                return path
            note(f"the cached file {path} {problem}; making it again")
        with atomic_path(path) as tmp:
            make(tmp)
            digest = sha256_file(tmp)
        with atomic_path(_digest_path(path)) as tmp:
            tmp.write_text(f"{digest}  {path.name}\n")
    return path


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def cache_file_problem(path: Path) -> str | None:
    """Why the cached file ``path`` cannot be trusted, or None when it has the sha256 recorded beside it when it
    was written (then :func:`recorded_sha256` is its sha256)."""
    try:
        recorded = _digest_path(path).read_text().split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return "has no sha256 recorded beside it"
    if sha256_file(path) != recorded:
        return "has changed since it was written (its sha256 differs from the one recorded beside it)"
    return None


def recorded_sha256(path: Path) -> str:
    """The sha256 recorded beside a cached file when it was written (check it with :func:`cache_file_problem`)."""
    return _digest_path(path).read_text().split()[0]


def cached_onnx(name: str, digest: str, build: Callable[[], tuple[torch.nn.Module, torch.Tensor]], *,
                inputs: list[str], outputs: list[str], dynamic_axes: dict[str, dict[int, str]]) -> Path:
    """The ONNX export of the module ``build()`` returns (with an example input), cached by ``digest``.

    Exported once (see :func:`checked_cache_file`), quietly: what the exporter prints goes to a log
    beside the export, not to stdout. Raises :class:`OnnxExportError` when the module cannot be
    exported, saying so on stderr the first time only; later calls raise it without trying again.
    """
    path = onnx_cache_dir() / f"{name}-{digest[:16]}-opset{OPSET}.onnx"
    failed, log = path.with_name(path.name + ".failed"), path.with_name(path.name + ".log")

    def export(tmp: Path) -> None:
        import torch  # only here: a cached export runs without it

        reason = _remembered_failure(failed, torch.__version__)
        if reason is not None:
            raise OnnxExportError(f"{name} cannot be exported to ONNX ({reason}; remembered in {failed})")
        first = not path.is_file()  # a first use (a changed file has had its own note)
        module, example = build()
        with _captured_output() as output:
            try:
                with torch.inference_mode(False), torch.no_grad():
                    torch.onnx.export(module.eval(), (example,), str(tmp), input_names=inputs, output_names=outputs,
                                      dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False)
            except OSError:
                raise  # a full disk or a read-only cache is not the module's fault: not remembered
            except Exception as exc:  # any exporter failure: the callers fall back to PyTorch
                reason = _one_line(exc)
                _remember_failure(failed, log, reason, output() + traceback.format_exc(), torch.__version__)
            else:
                failed.unlink(missing_ok=True)
                log.unlink(missing_ok=True)
                reason = None
        if reason is None:  # exported; said once, outside the capture (a failure says so instead, below)
            if first:
                note(f"exported {name} to ONNX, once (cached in {path.parent}; `facerec models prepare` "
                     "does it ahead of time)")
            return
        note(f"{name} cannot be exported to ONNX ({reason}); facerec runs it in PyTorch instead and does not "
             f"try again (delete {failed} to retry; the exporter's output is in {log})")
        raise OnnxExportError(f"{name} cannot be exported to ONNX ({reason})")

    return checked_cache_file(path, export)


def _remember_failure(failed: Path, log: Path, reason: str, output: str, torch_version: str) -> None:
    with atomic_path(log) as tmp:
        tmp.write_text(output)
    with atomic_path(failed) as tmp:
        tmp.write_text(json.dumps({"torch": torch_version, "error": reason}))


def _remembered_failure(failed: Path, torch_version: str) -> str | None:
    """The reason an export failed before with this torch version, or None (a newer torch may succeed)."""
    try:
        record = json.loads(failed.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("torch") != torch_version:
        return None
    return str(record.get("error", "unknown error"))


def _one_line(exc: BaseException, limit: int = 200) -> str:
    line = next((part.strip() for part in str(exc).splitlines() if part.strip()), type(exc).__name__)
    return line if len(line) <= limit else line[: limit - 3] + "..."


@contextlib.contextmanager
def _captured_output() -> Iterator[Callable[[], str]]:
    """Python warnings, and everything written to stdout and stderr (by Python or by C++), kept aside:
    the TorchScript exporter prints its whole graph when it fails, and warns about every tensor it turns
    into a constant. Yields a function that returns what was captured so far. (The file descriptors are
    process-wide: what other threads print during an export, which happens once per cache, is captured too.)"""
    python = io.StringIO()
    with tempfile.TemporaryFile("w+b") as capture:
        _flush()
        saved: dict[int, int] = {}

        def captured() -> str:
            _flush()
            capture.seek(0)
            return capture.read().decode("utf-8", "replace") + python.getvalue()

        try:
            for fd in (1, 2):
                with contextlib.suppress(OSError):  # a closed descriptor (a daemon) stays as it is
                    saved[fd] = os.dup(fd)
                    os.dup2(capture.fileno(), fd)
            with warnings.catch_warnings(), contextlib.redirect_stdout(python), contextlib.redirect_stderr(python):
                warnings.simplefilter("ignore")
                yield captured
        finally:
            _flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)


def _flush() -> None:
    """Flush Python's and C's buffered output, so that it lands before the descriptors change."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()  # type: ignore[union-attr]
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).fflush(None)
