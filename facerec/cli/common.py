"""Pieces shared by every ``facerec`` command: error handling, model options, JSON output."""

from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable

import click

from facerec.errors import FaceRecError

__all__ = ["CONTEXT", "FaceRecGroup", "emit", "make_recognizer", "model_options"]

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class FaceRecGroup(click.Group):
    """A click group that reports facerec's own errors without a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _user_errors() as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


def _user_errors() -> tuple[type[Exception], ...]:
    from enrollment.errors import GalleryError
    from index.errors import VectorIndexError

    return (FaceRecError, GalleryError, VectorIndexError)


def model_options(command: Callable) -> Callable:
    """--model, --tag, --weights and --no-flip, shared by every command that embeds faces."""
    options = [
        click.option("--model", default="mobilefacenet", show_default=True, envvar="FACEREC_MODEL",
                     help="Embedding model (see `facerec models`)."),
        click.option("--tag", default=None, help="Weights of the model (default: the model's default)."),
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="Path to the weights file (default: FACEREC_WEIGHTS_DIR, cache, download)."),
        click.option("--no-flip", is_flag=True, help="Skip flip test-time augmentation (faster, less accurate)."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), command)


def make_recognizer(model: str, tag: str | None, weights: str | None, no_flip: bool, **kwargs: Any):
    from facerec.recognizer import FaceRecognizer

    return FaceRecognizer(model, tag=tag, weights=weights, flip=not no_flip, **kwargs)


def emit(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
