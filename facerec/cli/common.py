"""Pieces shared by every ``facerec`` command: error handling, model options, JSON output.

``facerec --help`` imports this module, so it imports neither NumPy nor the pipeline's settings
(:mod:`facerec.config`, which loads the model registry and Pillow) until a command uses them.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click

from facerec.checks import path_text
from facerec.errors import FaceRecError

if TYPE_CHECKING:
    from facerec.config import DEFAULT_MODEL, ROBUST_DEFENCE, PipelineConfig

__all__ = [
    "CONTEXT", "CommandError", "DEFAULT_MODEL", "FaceRecGroup", "JsonError", "QUIET", "ROBUST_DEFENCE", "THRESHOLD",
    "FiniteFloatRange", "emit", "is_file", "make_recognizer", "model_options", "pipeline_config", "shown",
]

#: ``--quiet``, on every command that shows progress.
QUIET = click.option("--quiet", "-q", is_flag=True, help="No progress bars or progress messages.")

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class FiniteFloatRange(click.FloatRange):
    """A click FloatRange that refuses NaN (which click's own accepts: NaN fails no comparison) and infinities."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


#: A similarity threshold option's type: a finite cosine similarity in [-1, 1].
THRESHOLD = FiniteFloatRange(-1.0, 1.0)


def shown(text: object, limit: int | None = 80) -> str:
    """A name or file name the user gave, for a message: unprintable characters (ANSI escapes, right-to-left
    overrides, control characters) escaped, so nothing reaches the terminal as a code (see
    :func:`facerec.fileio.shown_path`), and cut to ``limit`` characters with an ellipsis (``None``: not cut).

    >>> shown("Ada\\x1b[2J" + "a" * 100, 12)
    'Ada\\\\x1b[2Ja…'
    """
    from facerec.fileio import shown_path

    line = shown_path(str(text))
    return line if limit is None or len(line) <= limit else line[: limit - 1] + "…"


def is_file(path: str) -> bool:
    """Whether ``path`` names an existing file; False for text that cannot be a path at all (too long, a
    NUL character), where :meth:`pathlib.Path.is_file` raises."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


class CommandError(click.ClickException):
    """A user-facing error that remembers its kind (the facerec error class) for ``--json``."""

    def __init__(self, message: str, kind: str = "Error") -> None:
        super().__init__(message)
        self.kind = kind


class JsonError(click.ClickException):
    """An error shown as one JSON object on stderr, ``{"error": <class>, "detail": <one line>}`` (the HTTP API's
    shape, docs/reference/json.md), with the exit status the plain error has: what every command prints on
    failure under ``--json``."""

    def __init__(self, error: click.ClickException) -> None:
        super().__init__(error.format_message())
        self.exit_code = error.exit_code  # type: ignore[misc]  # click declares it on the class
        self.kind = getattr(error, "kind", None) or type(error).__name__

    def show(self, file: Any = None) -> None:
        click.echo(json.dumps({"error": self.kind, "detail": self.format_message()}), err=True)


class FaceRecGroup(click.Group):
    """A click group that reports facerec's own errors without a traceback: one line on stderr, or with
    ``--json`` one JSON object on stderr."""

    def invoke(self, ctx: click.Context) -> Any:
        wants_json = "--json" in [*ctx._protected_args, *ctx.args]  # read before the subcommand takes them
        try:
            return self._invoke(ctx)
        except click.ClickException as exc:
            if wants_json and not isinstance(exc, JsonError):
                raise JsonError(exc) from None
            raise

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _user_errors() as exc:
            hint = getattr(exc, "hint", None)  # what to do, in the command line's words
            raise CommandError(path_text(str(exc) + (f" ({hint})" if hint else "")), type(exc).__name__) from None
        except Exception as exc:
            if _database_error(exc):  # one that no layer below put in words (a keys command, a lock): one line
                raise CommandError(f"database error: {_one_line(str(getattr(exc, 'orig', None) or exc))}",
                                   "DatabaseError") from None
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


def _database_error(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLAlchemy's (looked up without importing SQLAlchemy: most commands never load it)."""
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(exc, errors.SQLAlchemyError)


def _one_line(message: str) -> str:
    """``message`` as one line of valid text (a database's message may run over several)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return path_text(" ".join(lines) if lines else message)


def _user_errors() -> tuple[type[Exception], ...]:
    from enrollment.errors import GalleryError
    from index.errors import VectorIndexError

    return (FaceRecError, GalleryError, VectorIndexError)


#: Where :func:`model_options` leaves the command's :class:`~facerec.config.PipelineConfig` in the click context.
PIPELINE_KEY = "facerec.pipeline"


def model_options(command: Callable) -> Callable:
    """--model, --tag, --weights and --no-flip, shared by every command that embeds faces, plus the
    pipeline options --detector, --landmarks, --backend, --precision, --threads, --face-crop and --no-even-light.

    All of them become one :class:`~facerec.config.PipelineConfig`, checked before the command runs, which
    :func:`pipeline_config` and :func:`make_recognizer` read from the click context (so that commands need
    not pass the options along one by one, and none is dropped on the way)."""

    from facerec.config import DEFAULT_MODEL, PipelineConfig, parse_detectors

    @functools.wraps(command)
    def with_pipeline(*args: Any, detector: str, landmarks: str, backend: str, precision: str, threads: int | None,
                      face_crop: bool, no_even_light: bool, **kwargs: Any) -> Any:
        click.get_current_context().meta[PIPELINE_KEY] = PipelineConfig(
            model=kwargs["model"], tag=kwargs["tag"], weights=kwargs["weights"], flip=not kwargs["no_flip"],
            detectors=parse_detectors(detector), detect=not face_crop, landmarks=landmarks, backend=backend,
            precision=precision, threads=threads, even_light=not no_even_light)
        return command(*args, **kwargs)

    from facerec.models.detectors import DEFAULT_DETECTOR, DEFAULT_LANDMARKS, LANDMARKS
    from facerec.models.embedders.int8 import PRECISIONS

    options = [
        click.option("--model", default=DEFAULT_MODEL, show_default=True, envvar="FACEREC_MODEL",
                     help="Embedding model (see `facerec models`; `facerec models add` adds an ONNX one)."),
        click.option("--tag", default=None, help="Weights of the model (default: the model's default)."),
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="Path to the weights file (default: FACEREC_WEIGHTS_DIR, cache, download)."),
        click.option("--no-flip", is_flag=True, help="Skip flip test-time augmentation (faster, less accurate)."),
        click.option("--no-even-light", is_flag=True,
                     help="Do not even out strong side light on a face before embedding it (a gallery keeps how its "
                          "faces were embedded, whatever this says)."),
        click.option("--detector", default=DEFAULT_DETECTOR, show_default=True, envvar="FACEREC_DETECTOR",
                     help="Face detector (see `facerec models`): mtcnn, yunet, yunet-s, retinaface, or several "
                          "comma-separated as a cascade (the next one looks where the earlier found no face)."),
        click.option("--landmarks", type=click.Choice(list(LANDMARKS)), default=DEFAULT_LANDMARKS,
                     show_default=True, envvar="FACEREC_LANDMARKS",
                     help="Who places the 5 landmarks of faces found by YuNet or RetinaFace: MTCNN's "
                          "refinement networks where they agree with the detector within 0.3 eye distances "
                          "(the most accurate), or the detector itself (13% to 28% more photos/s, less "
                          "precise alignment; see docs/concepts/detectors.md)."),
        click.option("--backend", type=click.Choice(["onnx", "torch"]), default="onnx", show_default=True,
                     envvar="FACEREC_BACKEND", help="Inference runtime: onnxruntime, or PyTorch."),
        click.option("--precision", type=click.Choice(list(PRECISIONS)), default="auto", show_default=True,
                     envvar="FACEREC_PRECISION",
                     help="The embedder's arithmetic: int8 (about 2.3x faster, embeddings within cosine 0.99 of "
                          "fp32's) or fp32; auto is int8 where the weights have a calibration and the backend is "
                          "onnx."),
        click.option("--threads", type=click.IntRange(1, None), default=None,
                     help="CPU threads for inference (default: FACEREC_THREADS, else the cores)."),
        click.option("--face-crop", is_flag=True,
                     help="The photos are face crops already (ID photos, crops from another system): "
                          "no detection, the whole image is the face."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), with_pipeline)


def pipeline_config(*, robust: bool = False) -> PipelineConfig:
    """The command's pipeline (from :func:`model_options`), with the ``--robust`` defence when asked for;
    the defaults outside a command."""
    from facerec.config import ROBUST_DEFENCE, PipelineConfig

    ctx = click.get_current_context(silent=True)
    config = ctx.meta.get(PIPELINE_KEY) if ctx is not None else None
    config = config if isinstance(config, PipelineConfig) else PipelineConfig()
    return config.with_(defence=ROBUST_DEFENCE) if robust else config


def make_recognizer(model: str, tag: str | None, weights: str | None, no_flip: bool, *, robust: bool = False,
                    threshold: float | None = None):  # noqa: ANN201 - a FaceRecognizer
    """The recognizer the command's options ask for (see :func:`pipeline_config`); ``robust`` puts the JPEG
    defence in front of the embedder. ``model``, ``tag``, ``weights`` and ``no_flip`` are in the config
    already; they are checked against it."""
    from facerec.recognizer import build_recognizer  # the pipeline's modules, loaded when a command runs one

    config = pipeline_config(robust=robust)
    if (config.model, config.tag, config.weights, config.flip) != (model, tag, weights, not no_flip):
        config = config.with_(model=model, tag=tag, weights=weights, flip=not no_flip)  # called outside its command
    recognizer = build_recognizer(config, threshold=threshold)
    limit_torch_threads(recognizer.threads)
    return recognizer


def limit_torch_threads(threads: int) -> None:
    """Cap torch's process-wide thread count at ``threads``, where the pipeline has loaded torch at all (the
    command owns its process; a :class:`~facerec.recognizer.FaceRecognizer` never changes it)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def count(number: int, singular: str, plural: str | None = None) -> str:
    """``1 person``, ``2 people``."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def emit(data: dict[str, Any], *, line: bool = False) -> None:
    """Print ``data`` as strict JSON: NaN and infinities become null, floats are rounded to 6 places; ``line``:
    on one line (JSON Lines, for a command that answers once per input)."""
    click.echo(json.dumps(json_ready(data), indent=None if line else 2, default=str, allow_nan=False))


def json_ready(value: Any) -> Any:
    """``value`` as strict JSON can hold it (what :func:`emit` prints, and ``watch`` writes per frame): datetimes
    as ISO 8601, NumPy scalars as Python ones, floats rounded to 6 places, NaN and infinities as None."""
    import numpy as np  # here, not at the top: `facerec --help` needs no NumPy

    if isinstance(value, datetime):  # ISO 8601 with its offset, as the HTTP API writes it
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()
    if isinstance(value, str):
        return path_text(value)  # a file name that is not UTF-8 as \\xNN escapes, not lone surrogates
    if isinstance(value, (bool, np.bool_)) or value is None:
        return bool(value) if value is not None else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return round(number, 6) if math.isfinite(number) else None
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def __getattr__(name: str) -> Any:
    """``DEFAULT_MODEL`` and ``ROBUST_DEFENCE``, re-exported from :mod:`facerec.config` when first asked for."""
    if name in ("DEFAULT_MODEL", "ROBUST_DEFENCE"):
        import facerec.config

        return getattr(facerec.config, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
