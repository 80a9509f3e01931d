"""``facerec embed`` (photos to an embeddings folder) and ``facerec compare`` (known folder vs unknown folder)."""

from __future__ import annotations

import csv
import sys

import click

from facerec.cli.common import CONTEXT, QUIET, THRESHOLD, emit, make_recognizer, model_options

__all__ = ["COMMAND", "EXTRA_COMMANDS"]


@click.command("embed", context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False),
              help="Folder for embeddings.npy, faces.csv (one row per embedding), errors.csv and meta.json; "
                   "an interrupted run resumes there.")
@model_options
@click.option("--all-faces", is_flag=True, help="Every face of each photo, not just the largest.")
@click.option("--index-format", type=click.Choice(["csv", "json", "parquet"]), default="csv", show_default=True,
              help="Format of the faces table (parquet needs pyarrow).")
@click.option("--chunk", type=click.IntRange(1, None), default=256, show_default=True,
              help="Photos per saved chunk: at most this many are redone after an interruption.")
@QUIET
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def embed_command(inputs: tuple[str, ...], out: str, model: str, tag: str | None, weights: str | None, no_flip: bool,
                  all_faces: bool, index_format: str, chunk: int, quiet: bool, as_json: bool) -> None:
    """Embed the faces of INPUTS (photos and folders, searched recursively) into the folder OUT.

    Row i of OUT/embeddings.npy is the face on line i of OUT/faces.csv (path, face number, box, detector
    score, detector). Photos without a usable face are listed in OUT/errors.csv. Run it again on the same
    folder to resume, or after adding photos: photos already done are skipped.
    """
    from facerec.embed_files import EmbedSettingsError, embed_to_folder
    from facerec.fileio import shown_path

    recognizer = make_recognizer(model, tag, weights, no_flip)
    try:
        report = embed_to_folder(recognizer, inputs, out, all_faces=all_faces, chunk=chunk,
                                 progress=not (as_json or quiet), index_format=index_format)  # type: ignore[arg-type]
    except EmbedSettingsError as exc:  # the same error, each setting named by its option
        raise EmbedSettingsError(exc.out, [(_option(name), before, now) for name, before, now in exc.differences]
                                 ) from None
    if as_json:
        emit(report.to_dict())
        return
    for path, error in report.failed:  # file names escaped: no escape sequence reaches the terminal
        click.echo(f"no embedding for {shown_path(path)}: {shown_path(error)}", err=True)
    click.echo(f"{report.faces} embeddings of {report.photos} photos in {shown_path(out)} "
               f"({report.resumed} done before, {len(report.failed)} without a usable face)")
    if report.photos and not report.faces:
        raise click.ClickException("no photo gave an embedding")


#: The option that sets each setting of an embeddings folder's meta.json.
_OPTIONS = {"all_faces": "--all-faces", "detector": "--detector", "landmarks": "--landmarks", "model": "--model",
            "dim": "embedding size"}


def _option(setting: str) -> str:
    """``all_faces`` as ``--all-faces``; ``detector.steps[0][0].min_size`` as ``--detector (steps[0][0].min_size)``."""
    head = setting.split(".")[0].split("[")[0]
    rest = setting[len(head):].lstrip(".")
    if head not in _OPTIONS:
        return setting
    return f"{_OPTIONS[head]} ({rest})" if rest else _OPTIONS[head]


@click.command("compare", context_settings=CONTEXT)
@click.option("--known", required=True, type=click.Path(exists=True, file_okay=False),
              help="Known people: one sub-folder of photos per person, or photos named after the person.")
@click.option("--unknown", required=True, type=click.Path(exists=True),
              help="A photo, or a folder of photos (searched recursively), to put names on.")
@model_options
@click.option("--threshold", type=THRESHOLD, default=None,
              help="A fixed cosine threshold in [-1, 1]: name someone when the cosine reaches it (default: the "
                   "calibrated decision on cohort-normalised scores for that many known people, as identify's).")
@QUIET
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of CSV.")
def compare_command(known: str, unknown: str, model: str, tag: str | None, weights: str | None, no_flip: bool,
                    threshold: float | None, quiet: bool, as_json: bool) -> None:
    """For each UNKNOWN photo, the best-matching KNOWN person and the score, as CSV (or --json).

    CSV columns: path, person (empty when nobody matches), score (what the threshold applies to: the
    cohort-normalised score, or the cosine with --threshold), best (the closest known person, even below the
    threshold), threshold, error (for a photo without a usable face), cosine (the best person's cosine
    similarity). Exits 1 when no unknown photo could be compared.
    """
    from facerec.compare import compare_folders
    from facerec.fileio import shown_path

    recognizer = make_recognizer(model, tag, weights, no_flip)
    rows = compare_folders(recognizer, known, unknown, threshold=threshold, progress=not (as_json or quiet))
    if as_json:
        emit({"known": known, "unknown": unknown, "model": recognizer.model_key,
              "results": [row.to_dict() for row in rows]})
    else:
        writer = csv.writer(sys.stdout)
        writer.writerow(["path", "person", "score", "best", "threshold", "error", "cosine"])  # cosine last: old
        # readers by position still find the first six where they were
        for row in rows:
            # file names (people are named by theirs) escaped: not UTF-8 as \xNN, control and format characters
            # (an ANSI escape sequence, a right-to-left override) too
            writer.writerow([shown_path(row.path), shown_path(row.person or ""),
                             "" if row.score is None else f"{row.score:.4f}", shown_path(row.best or ""),
                             f"{row.threshold:.4f}", shown_path(row.error or ""),
                             "" if row.raw_score is None else f"{row.raw_score:.4f}"])
    if rows and all(row.error for row in rows):
        raise click.ClickException("no unknown photo had a usable face")


COMMAND = embed_command
EXTRA_COMMANDS = [compare_command]
