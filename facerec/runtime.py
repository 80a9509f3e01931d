"""Inference runtimes: thread counts, and onnxruntime sessions over PyTorch modules exported once.

A PyTorch module is exported to ONNX the first time it is needed and the file is cached under a
name that carries its weights' sha256, so changed weights get a new export and stale files are
never used. PyTorch stays for training and attacks, which need gradients.

A cached file is trusted only for a digest facerec itself vouches for, never for one kept beside it: the
digests the code knows (the published ONNX files, for their source weights and export recipe), or the one
recorded when facerec made the file here, kept outside the cache (:func:`made_records_dir`), keyed by what
the file was made from. Whoever can write the cache cannot vouch for a file they put there: a file changed,
cut short or planted (with or without a ``.sha256`` beside it) is made again, with a one-line note on
stderr, and never run. A module that cannot be exported is not tried again on every
call: the failure is remembered beside the export (``<file>.failed``, until torch changes version;
what the exporter printed goes to ``<file>.log``) and :class:`~facerec.errors.OnnxExportError` raised.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal

from filelock import FileLock
from platformdirs import user_cache_dir, user_data_dir

from facerec.errors import OnnxExportError
from facerec.fileio import atomic_path, sha256_file

if TYPE_CHECKING:
    import onnxruntime
    import torch

__all__ = ["Backend", "BACKENDS", "cpu_count", "resolve_threads", "onnx_cache_dir", "onnx_session", "cached_onnx",
           "cache_file_problem", "cache_files_used", "recorded_sha256", "checked_cache_file", "made_records_dir",
           "export_onnx", "import_torch", "RECIPE", "note"]

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


#: True while ``facerec models prepare`` runs: its notes do not suggest running it.
_PREPARING = False


@contextlib.contextmanager
def preparing_ahead() -> Iterator[None]:
    """Within it, the work is done ahead of time on purpose (``facerec models prepare``): notes say what was
    made without pointing at the command that makes it ahead of time."""
    global _PREPARING
    before, _PREPARING = _PREPARING, True
    try:
        yield
    finally:
        _PREPARING = before


def _ahead_of_time_hint() -> str:
    """``; `facerec models prepare` does it ahead of time``, except while it runs."""
    return "" if _PREPARING else "; `facerec models prepare` does it ahead of time"


#: Every cached file this process has asked for, in order (``facerec models prepare`` lists them).
_USED: dict[Path, None] = {}


def cache_files_used() -> list[Path]:
    """The cached files (ONNX exports, int8 models) this process has used or made so far, in order."""
    return list(_USED)


def checked_cache_file(path: Path, make: Callable[[Path], None], *, source: str = "",
                       known: tuple[str, ...] = ()) -> Path:
    """``path``, made by ``make(tmp)`` the first time and checked on every use against a digest facerec vouches for.

    ``source`` names what the file is made from and how (e.g. the source weights' sha256 and the export
    recipe); ``known`` lists digests the code knows for it (a published file). ``make`` writes the file at the
    temporary path it is given, which is moved into place (under a file lock, so concurrent processes never read
    a half-written file); its sha256 is then recorded outside the cache (:func:`made_records_dir`). A file whose
    sha256 is neither known nor recorded for ``source`` (edited, replaced, truncated, planted) is made again.
    """
    _USED.setdefault(path, None)
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            problem = cache_file_problem(path, source=source, known=known)
            if problem is None:
                return path
            note(f"the cached file {path} {problem}; making it again")
        with atomic_path(path) as tmp:
            make(tmp)
            digest = sha256_file(tmp)
        _digest_path(path).unlink(missing_ok=True)  # a sidecar of older versions: never read, so not left to mislead
        record = _record_path(path, source)
        try:
            with atomic_path(record) as tmp:
                tmp.write_text(f"{digest}  {path.name}\n")
        except OSError as exc:  # a read-only data folder: the file is used now, and made again next time
            note(f"cannot record the sha256 of {path.name} in {record.parent} ({exc.strerror or exc}); it will be "
                 "made again next time")
    return path


def made_records_dir() -> Path:
    """Where facerec records the sha256 of each file it made in a cache: in the user's data folder, not in the
    cache (``$FACEREC_CACHE_DIR`` may be shared, restored by CI or baked into an image)."""
    return Path(user_data_dir("facerec")) / "made"


def _record_path(path: Path, source: str) -> Path:
    """The record of the file named like ``path`` made from ``source`` (the same in every cache folder)."""
    key = hashlib.sha256(f"{path.name}\n{source}".encode()).hexdigest()[:32]
    return made_records_dir() / f"{key}.sha256"


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def cache_file_problem(path: Path, *, source: str = "", known: tuple[str, ...] = ()) -> str | None:
    """Why the cached file ``path`` cannot be trusted, or None when its sha256 is one of ``known`` or the one
    facerec recorded when it made the file from ``source`` (then :func:`recorded_sha256` gives it)."""
    actual = sha256_file(path)
    if actual in known:
        return None
    recorded = _recorded(path, source)
    if recorded is None:
        return "was not made by facerec here (no sha256 of it is recorded in " f"{made_records_dir()})"
    if actual != recorded:
        return "has changed since it was written (its sha256 differs from the one facerec recorded when it made it)"
    return None


def _recorded(path: Path, source: str) -> str | None:
    try:
        return _record_path(path, source).read_text().split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None


def recorded_sha256(path: Path, *, source: str = "") -> str:
    """The sha256 facerec recorded when it made the cached file ``path`` (check it with :func:`cache_file_problem`)."""
    recorded = _recorded(path, source)
    if recorded is None:
        raise FileNotFoundError(f"no sha256 is recorded for {path}")
    return recorded


#: How facerec turns a PyTorch module into ONNX: part of what a cached export is made from.
RECIPE = f"torch.onnx.export opset{OPSET} dynamo=False"


def import_torch(purpose: str) -> Any:
    """The ``torch`` module, or a one-line :class:`~facerec.errors.MissingExtraError` saying ``purpose`` needs
    the torch extra."""
    from facerec.extras import import_extra

    return import_extra("torch", purpose)


def export_onnx(module: torch.nn.Module, example: torch.Tensor, path: Path, *, inputs: list[str],
                outputs: list[str], dynamic_axes: dict[str, dict[int, str]]) -> None:
    """Write ``module`` to ``path`` as ONNX (facerec's one recipe, :data:`RECIPE`: the files it ships were made so)."""
    import torch

    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(module.eval(), (example,), str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False)


def cached_onnx(name: str, digest: str, build: Callable[[], tuple[torch.nn.Module, torch.Tensor]], *,
                inputs: list[str], outputs: list[str], dynamic_axes: dict[str, dict[int, str]],
                known: tuple[str, ...] = ()) -> Path:
    """The ONNX export of the module ``build()`` returns (with an example input), cached by ``digest``.

    Exported once (see :func:`checked_cache_file`; ``known``: the sha256 of the published export of these
    weights, when there is one), quietly: what the exporter prints goes to a log
    beside the export, not to stdout. Raises :class:`OnnxExportError` when the module cannot be
    exported, saying so on stderr the first time only; later calls raise it without trying again.
    """
    path = onnx_cache_dir() / f"{name}-{digest[:16]}-opset{OPSET}.onnx"
    failed, log = path.with_name(path.name + ".failed"), path.with_name(path.name + ".log")

    def export(tmp: Path) -> None:
        torch = import_torch(f"making the ONNX file of {name} (none was found)")

        reason = _remembered_failure(failed, torch.__version__)
        if reason is not None:
            raise OnnxExportError(f"{name} cannot be exported to ONNX ({reason}; remembered in {failed})")
        first = not path.is_file()  # a first use (a changed file has had its own note)
        module, example = build()
        with _captured_output() as output:
            try:
                export_onnx(module, example, tmp, inputs=inputs, outputs=outputs, dynamic_axes=dynamic_axes)
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
                note(f"exported {name} to ONNX, once (cached in {path.parent}{_ahead_of_time_hint()})")
            return
        note(f"{name} cannot be exported to ONNX ({reason}); facerec runs it in PyTorch instead and does not "
             f"try again (delete {failed} to retry; the exporter's output is in {log})")
        raise OnnxExportError(f"{name} cannot be exported to ONNX ({reason})")

    return checked_cache_file(path, export, source=f"{digest}\n{RECIPE}", known=known)


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
