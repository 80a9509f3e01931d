"""The ``facerec`` command line. One function per command; errors become one line on stderr.

``main`` is a lazy group (click's documented ``LazyGroup`` pattern, as pip and Flask load their commands):
it knows each command's module and one-line help, and imports a module only when its command runs, so
``facerec --help`` and ``facerec verify`` do not pay for torch, the service or the zoo. The commands live in
``verify`` (verify, eval), ``enroll`` (enroll, identify), ``store`` (list, remove, rename, index), ``models``,
``embed`` (with ``compare``), ``train``, ``zoo``, ``robustness``, ``serve``, ``keys`` and ``watch``; ``options``
holds the gallery options they share and ``common`` the rest.

A command prints its own lines only: the warnings of the libraries below (Pillow's decompression-bomb
warning, numpy's "invalid value" RuntimeWarnings, ...) are silenced while it runs, and facerec's own
(:class:`~facerec.errors.FaceRecWarning`, :class:`~enrollment.errors.GalleryWarning`) show as one
``warning: ...`` line each. Python's ``-W`` options and
``PYTHONWARNINGS`` still rule where given (``python -W error -m facerec ...`` raises them as errors).
"""

from __future__ import annotations

import errno
import importlib
import sys
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, TextIO

import click

from facerec.cli.common import CONTEXT, CommandError, FaceRecGroup

__all__ = ["COMMANDS", "LazyGroup", "main", "user_warnings"]

#: Each command: the module attribute that holds it, and its help line as ``facerec --help`` shows it
#: (tests/test_lean_core.py checks these against the commands themselves).
COMMANDS: dict[str, tuple[str, str]] = {
    "compare": ("facerec.cli.embed:compare_command",
                "For each UNKNOWN photo, the best-matching KNOWN person and the score, as CSV (or --json)."),
    "embed": ("facerec.cli.embed:embed_command",
              "Embed the faces of INPUTS (photos and folders, searched recursively) into the folder OUT."),
    "enroll": ("facerec.cli.enroll:enroll_command",
               "Enroll NAME from one or more IMAGES (one photo is enough), or a whole folder with --from-dir."),
    "eval": ("facerec.cli.verify:eval_group", "Measure accuracy on standard protocols."),
    "identify": ("facerec.cli.enroll:identify_command",
                 "Say who is in each of IMAGES (photos, or folders of photos), or that the face is not recognized."),
    "index": ("facerec.cli.store:index_group",
              "Inspect or rebuild the gallery's vector store (FAISS or Milvus)."),
    "keys": ("facerec.cli.keys:keys_group",
             "API keys for `facerec serve`: read (verify, identify, list), enroll (plus changes), admin (plus keys)."),
    "list": ("facerec.cli.store:list_command", "List enrolled people and how many faces each has."),
    "models": ("facerec.cli.models:models_group",
               "List the embedding models and face detectors, and their weights (prepare: build their ONNX files)."),
    "remove": ("facerec.cli.store:remove_command",
               "Remove NAME and all their faces from the gallery (database and index at once)."),
    "rename": ("facerec.cli.store:rename_command", "Rename identity OLD to NEW."),
    "robustness": ("facerec.cli.robustness:robustness_command",
                   "Attack the aligned 112x112 crops of the attacked folds' pairs with FGSM/PGD (dodging and "
                   "impersonation) at a threshold fixed on the other folds' clean scores; report accuracy, TAR/FAR "
                   "at the FAR=1e-3 threshold, attack success and perturbation norms, with and without a defence."),
    "serve": ("facerec.cli.serve:serve_command",
              "Serve the gallery over HTTP: JSON API under /v1, a web page at /, OpenAPI docs at /docs."),
    "train": ("facerec.cli.train:train_command",
              "Train an embedder with triplet loss on P x K batches and write a checkpoint loadable with --weights."),
    "verify": ("facerec.cli.verify:verify_command",
               "Say whether IMAGE_A and IMAGE_B show the same person (exit 0 either way)."),
    "watch": ("facerec.cli.watch:watch_command",
              "Say who appears when in SOURCE: a video file, a folder of frames, an RTSP/HTTP URL or a camera index."),
    "zoo": ("facerec.cli.zoo:zoo_group",
            "The classic CNN zoo: layer tables, training, transfer learning, style transfer and a GAN."),
}


class LazyGroup(FaceRecGroup):
    """A group whose commands are imported when one runs (or ``--help`` of that command is asked for).

    ``lazy`` maps a command name to ``("module:attribute", help line)``; the group's own ``--help`` lists the
    help lines without importing anything. A command whose help line is empty is imported for the listing.
    """

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def invoke(self, ctx: click.Context) -> Any:
        with user_warnings():
            return super().invoke(ctx)

    def _invoke(self, ctx: click.Context) -> Any:
        """As :class:`FaceRecGroup`'s, and a package of an extra that is not installed (``import torch`` in a
        core install) is one line naming the extra: the command's own (``train``, ``zoo``...) or the package's."""
        command = next(iter([*ctx._protected_args, *ctx.args]), "")  # read before the subcommand takes them
        try:
            return super()._invoke(ctx)
        except ModuleNotFoundError as exc:
            from facerec.extras import COMMAND_EXTRAS, extra_for, missing_extra

            module, extra = (exc.name or "").split(".")[0], extra_for(exc.name)
            if extra is None:
                raise
            if extra in ("torch", "plots"):
                extra = COMMAND_EXTRAS.get(command, extra)
            raise CommandError(str(missing_extra(f"facerec {command}".strip(), extra, module)),
                               "MissingExtraError") from None
        except OSError as exc:  # the safety net under the checked readers: a path no layer put in words
            if exc.filename is None and exc.errno != errno.ENAMETOOLONG:  # (a --weights or --pairs name over
                raise  # 255 bytes, a full disk; FFmpeg names no file): one line
            from facerec.fileio import os_reason, shown_path

            named = f"cannot use {shown_path(exc.filename)}: " if exc.filename is not None else ""
            raise CommandError(named + os_reason(exc), "PathError") from None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            self.add_command(self._load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def _load(self, name: str) -> click.Command:
        module, attribute = self.lazy[name][0].split(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy[name][0]} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, but from the help lines in ``lazy`` where they are given (nothing imported)."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            text = self.lazy.get(name, ("", ""))[1]
            if text and name not in self.commands:
                rows.append((name, click.Command(name, help=text).get_short_help_str(limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@contextmanager
def user_warnings() -> Iterator[None]:
    """While a command runs: no warning of another library on stderr, facerec's own as one line
    (``warning: ...``); left as they are when ``-W`` or ``PYTHONWARNINGS`` asked for warnings (the filters are
    restored afterwards either way)."""
    if sys.warnoptions:
        yield
        return
    from enrollment.errors import GalleryWarning
    from facerec.errors import FaceRecWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ours in (FaceRecWarning, GalleryWarning):
            warnings.simplefilter("default", ours)
        warnings.showwarning = _show_warning
        yield


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    """A warning as one line, ``warning: message``: no file name, line number or source line."""
    click.echo(f"warning: {' '.join(str(message).split())}", err=True)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings=CONTEXT)  # type: ignore[operator]
@click.version_option(package_name="facerec")
def main() -> None:
    """Face verification and one-shot face recognition."""
