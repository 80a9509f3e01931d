"""The ``facerec`` command line. One function per command; errors become one line on stderr.

``main`` is a lazy group (click's documented ``LazyGroup`` pattern, as pip and Flask load their commands):
it knows each command's module and one-line help, and imports a module only when its command runs, so
``facerec --help`` and ``facerec verify`` do not pay for torch, the service or the zoo. The commands live in
``verify`` (verify, eval), ``enroll`` (enroll, identify), ``store`` (list, remove, rename, index), ``models``,
``embed`` (with ``compare``), ``train``, ``zoo``, ``robustness``, ``serve``, ``keys`` and ``watch``; ``options``
holds the gallery options they share and ``common`` the rest.
"""

from __future__ import annotations

import importlib
from typing import Any

import click
from click.utils import make_default_short_help

from facerec.cli.common import CONTEXT, FaceRecGroup

__all__ = ["COMMANDS", "LazyGroup", "main"]

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
    "identify": ("facerec.cli.enroll:identify_command", "Say who is in IMAGE, or that the face is not recognized."),
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
                rows.append((name, make_default_short_help(text, limit)))  # type: ignore[operator]
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings=CONTEXT)  # type: ignore[operator]
@click.version_option(package_name="facerec")
def main() -> None:
    """Face verification and one-shot face recognition."""
