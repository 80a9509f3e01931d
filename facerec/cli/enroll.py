"""The gallery commands that embed photos: ``facerec enroll`` and ``facerec identify``."""

from __future__ import annotations

from pathlib import Path

import click

from facerec.checks import path_text
from facerec.cli.common import CONTEXT, QUIET, THRESHOLD, count, emit, is_file, shown
from facerec.cli.options import GalleryOptions, gallery_options, shown_url
from facerec.errors import ImageReadError, MultipleFacesError, NoFaceError
from facerec.fileio import shown_path

__all__ = ["enroll_command", "identify_command"]


@click.command("enroll", context_settings=CONTEXT)
@click.argument("name", required=False)
@click.argument("images", nargs=-1, type=click.Path())
@click.option("--from-dir", "from_dir", type=click.Path(file_okay=False), default=None,
              help="Enroll a whole folder: one sub-folder of photos per person (DIR/Ada/*.jpg), or, without "
                   "sub-folders, one photo per person named after them (DIR/Ada.jpg).")
@gallery_options
@click.option("--require-single", is_flag=True, help="Refuse photos that show more than one face.")
@click.option("--name-is-path", is_flag=True, help="Accept a NAME that is also the path of an existing file.")
@click.option("--allow-duplicate", is_flag=True,
              help="Enroll even when the face matches another enrolled person (the same person under two names).")
@click.option("--allow-low-quality", is_flag=True,
              help="Enroll a photo whose face is too small, blurred, badly lit or turned away (refused otherwise).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="With --from-dir: decode, detect and embed on Ray (one model per actor), on a local Ray, or "
                   "the cluster at ADDRESS (ray://host:10001); resumable, needs facerec[ray]. No duplicate check.")
@click.option("--workers", type=click.IntRange(1, None), default=1, show_default=True,
              help="With --ray: how many actors (each one model, one CPU).")
@click.option("--write-batch", type=click.IntRange(1, None), default=256, show_default=True,
              help="With --ray: faces written per transaction.")
@QUIET
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def enroll_command(name: str | None, images: tuple[str, ...], from_dir: str | None, options: GalleryOptions,
                   require_single: bool, name_is_path: bool, allow_duplicate: bool, ray_address: str | None,
                   workers: int, write_batch: int, quiet: bool, as_json: bool, allow_low_quality: bool = False) -> None:
    """Enroll NAME from one or more IMAGES (one photo is enough), or a whole folder with --from-dir.

    With NAME and IMAGES, all photos are added in one transaction: if any photo cannot be
    used, nothing is enrolled. With --from-dir, bad files are reported and skipped; with --ray
    as well, the work runs on Ray, and a rerun of an interrupted job finishes it.
    """
    if ray_address and not from_dir:
        raise click.UsageError("--ray goes with --from-dir DIR")
    if from_dir and (name or images):
        raise click.UsageError("give either NAME IMAGE... or --from-dir, not both")
    if not from_dir and (not name or not images):
        raise click.UsageError("give a NAME and at least one IMAGE, or --from-dir DIR")
    if name and not name_is_path and is_file(name):
        raise click.UsageError(f"NAME '{shown(name)}' is a file: was the name forgotten? "
                               "(facerec enroll NAME IMAGE...; --name-is-path to use it as a name anyway)")
    gallery = options.open(create=True)
    # an existing gallery is opened at once; a new one on its first write, and said before the summary
    created = None if gallery.opened or as_json else f"created a new gallery at {shown_url(options.store.url)}"
    if ray_address:
        from facerec.bulk import bulk_enroll

        report = bulk_enroll(gallery, from_dir, recipe=options.recipe(),  # type: ignore[arg-type]
                             address=None if ray_address == "local" else ray_address, workers=workers,
                             write_batch=write_batch, require_single=require_single,
                             allow_low_quality=allow_low_quality, progress=not (as_json or quiet))
        _enroll_summary(gallery, report, as_json, created)
    else:
        _enroll(gallery, name, images, from_dir, require_single, allow_duplicate, as_json, quiet,
                allow_low_quality=allow_low_quality, created=created)
    # A failed enrollment raised above and wrote nothing; no database file is ever deleted to undo one.
    _index_warning(gallery)


def _index_warning(gallery) -> None:  # noqa: ANN001 - a facerec Gallery
    """Say so when the change is in the database but the vector store's file could not be written."""
    error = gallery.index_error
    if error:
        click.echo(f"warning: committed to the database, but the vector index file could not be written "
                   f"({error}); it catches up from the database on the next use, or run `facerec index rebuild`",
                   err=True)


def _enroll(gallery, name: str | None, images: tuple[str, ...], from_dir: str | None,  # noqa: ANN001
            require_single: bool, allow_duplicate: bool, as_json: bool, quiet: bool = False, *,
            allow_low_quality: bool = False, created: str | None = None) -> None:
    if from_dir:
        report = gallery.enroll_dir(from_dir, progress=not (as_json or quiet), require_single=require_single,
                                    allow_duplicate=allow_duplicate, allow_low_quality=allow_low_quality)
        _enroll_summary(gallery, report, as_json, created)
        return
    assert name is not None  # noqa: S101 - checked by the command
    result = gallery.enroll(name, list(images), require_single=require_single, allow_duplicate=allow_duplicate,
                            allow_low_quality=allow_low_quality)
    calibration = gallery.calibration()  # refreshed now, stored in the gallery
    if as_json:
        emit({"name": result.name, "faces_added": len(result.added_ids), "already_enrolled": result.skipped,
              "open_set": calibration.to_dict()})
    else:
        _say_created(gallery, created)
        click.echo(f"enrolled {shown(result.name)}: {count(len(result.added_ids), 'new face')}"
                   + (f", {result.skipped} already enrolled" if result.skipped else "")
                   + f"; open-set threshold {calibration.threshold:.3f} ({_chosen(calibration)})")


def _chosen(calibration) -> str:  # noqa: ANN001 - an OpenSetCalibration
    """How the open-set threshold was chosen, in words."""
    people = count(calibration.people, "person", "people")
    if calibration.source == "gallery":
        return f"from this gallery's own impostors, {people}"
    if calibration.gallery_threshold is None:
        return f"the model's, for {people}; the gallery's own from 10 people on"
    return f"the model's, for {people}; the gallery's own is lower"


def _say_created(gallery, created: str | None) -> None:  # noqa: ANN001 - a Gallery
    """Say that the gallery was created (``created``: the line, None where it existed) once it is written."""
    if created and gallery.opened:
        click.echo(created, err=True)


def _enroll_summary(gallery, report, as_json: bool, created: str | None = None) -> None:  # noqa: ANN001
    """What enroll --from-dir did (``report``, an EnrollReport), as text or JSON (with the refreshed open-set
    calibration), after ``created`` where the gallery is new; an error when nothing at all could be enrolled."""
    # refreshed by the enrollment and stored in the gallery; read as plain enroll does, also when all were there
    calibration = gallery.calibration() if report.added or report.already_enrolled else None
    if as_json:
        emit({**report.to_dict(), "open_set": calibration.to_dict() if calibration else None})
    else:
        _say_created(gallery, created)
        for path, error in report.failed:  # file names escaped: no escape sequence reaches the terminal
            click.echo(f"skipped {shown_path(path)}: {shown_path(error)}", err=True)
        for person, other, score in report.duplicates:
            click.echo(f"skipped {shown(person)}: matches '{shown(other)}' already enrolled (score {score:.3f}); "
                       "--allow-duplicate to enroll anyway", err=True)
        click.echo("read one sub-folder per person" if report.layout == "folders" else
                   "no sub-folders: read one person per photo, named by the file name", err=True)
        click.echo(f"enrolled {count(sum(report.added.values()), 'face')} of "
                   f"{count(len(report.added), 'person', 'people')}; {report.already_enrolled} already "
                   f"enrolled; {count(len(report.failed), 'file')} skipped"
                   + (f"; {count(len(report.duplicates), 'person', 'people')} skipped as duplicates"
                      if report.duplicates else "")
                   + (f"; open-set threshold {calibration.threshold:.3f} ({_chosen(calibration)})"
                      if calibration else ""))
    if report.failed and not report.added and not report.already_enrolled:
        raise click.ClickException("nothing could be enrolled")


@click.command("identify", context_settings=CONTEXT)
@click.argument("images", nargs=-1, required=True, type=click.Path())
@gallery_options
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(1, 100), help="Candidates to list.")
@click.option("--all-faces", is_flag=True, help="Identify every face in the photo, not just the largest.")
@click.option("--require-single", is_flag=True, help="Refuse a photo that shows more than one face.")
@click.option("--threshold", type=THRESHOLD, default=None,
              help="A fixed cosine threshold in [-1, 1]: below it the answer is 'not recognized' (default: the "
                   "calibrated decision on cohort-normalised scores, aiming at 1% false alarms for the gallery's "
                   "size, stricter for low-quality faces).")
@QUIET
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one line per photo when there are several).")
def identify_command(images: tuple[str, ...], options: GalleryOptions, top_k: int, all_faces: bool,
                     require_single: bool, threshold: float | None, quiet: bool, as_json: bool) -> None:
    """Say who is in each of IMAGES (photos, or folders of photos), or that the face is not recognized.

    With one photo, an error (no face, not an image) is the command's error. With several photos or a
    folder (its image files, searched recursively), each photo gets its answer under its name, or one JSON
    line with --json; a photo that cannot be used is reported (on stderr, or as a JSON line with "error"
    and "detail") and skipped, and the exit code is 1 if any was.
    """
    from enrollment import NoGalleryError

    gallery = options.open(threshold)
    if gallery.store.count_identities() == 0:
        raise NoGalleryError(f"the gallery at {shown_url(options.store.url)} is empty: enroll someone first")
    if len(images) == 1 and not _is_dir(images[0]):  # one photo: its answer, or its error, as ever
        results = gallery.identify(images[0], top_k=top_k, all_faces=all_faces, require_single=require_single)
        if as_json:
            emit(_identify_dict(images[0], results, None if threshold is not None else gallery.calibration()))
        else:
            _print_faces(results, indent="")
        return
    photos, failed = _photos(images), 0
    open_set = gallery.calibration() if as_json and threshold is None else None
    for photo, problem in photos:
        try:
            if problem:  # a folder without a photo
                failed += _skipped(photo, "NoImagesError", problem, as_json)
                continue
            results = gallery.identify(photo, top_k=top_k, all_faces=all_faces, require_single=require_single)
        except (ImageReadError, NoFaceError, MultipleFacesError) as exc:
            failed += _skipped(photo, type(exc).__name__, path_text(str(exc)), as_json)
            continue
        if as_json:
            emit(_identify_dict(photo, results, open_set), line=True)
        else:
            click.echo(f"{shown_path(photo)}:")
            _print_faces(results, indent="  ")
    if failed:
        raise click.ClickException(f"{count(failed, 'photo')} of {len(photos)} could not be identified")


def _skipped(photo: str, kind: str, detail: str, as_json: bool) -> int:
    """Report a photo that could not be identified (a JSON line in the error shape, or a line on stderr); 1."""
    if as_json:
        emit({"image": photo, "error": kind, "detail": detail}, line=True)
    else:
        click.echo(f"skipped {shown_path(photo)}: {shown_path(detail)}", err=True)
    return 1


def _is_dir(path: str) -> bool:
    """Whether ``path`` names a folder; False for text that cannot be a path at all."""
    try:
        return Path(path).is_dir()
    except (OSError, ValueError):
        return False


def _photos(images: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(photo, problem)`` for each path given and each image file under each folder given, in a stable
    order; ``problem`` is empty, or why a folder gave no photo."""
    from facerec.io import IMAGE_SUFFIXES

    photos: list[tuple[str, str]] = []
    for given in images:
        if not _is_dir(given):
            photos.append((given, ""))
            continue
        try:
            found = sorted(str(p) for p in Path(given).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        except OSError as exc:
            photos.append((given, f"cannot read folder {path_text(given)}: {exc.strerror or exc}"))
            continue
        photos.extend((photo, "") for photo in found)
        if not found:
            photos.append((given, f"{path_text(given)} has no image files ({', '.join(sorted(IMAGE_SUFFIXES))})"))
    return photos


def _identify_dict(image: str, results, open_set) -> dict:  # noqa: ANN001 - Identifications, an OpenSetCalibration
    """``identify --json``'s answer for one photo (``open_set``: None with a fixed --threshold)."""
    return {"image": image, "threshold": results[0].threshold, "faces": [r.to_dict() for r in results],
            "open_set": open_set.to_dict() if open_set is not None else None}


def _print_faces(results, indent: str) -> None:  # noqa: ANN001 - a list of Identification
    """Each face's answer and candidates, as text."""
    for number, result in enumerate(results, start=1):
        answer = result.name or ("not recognized (low quality)" if (result.reason or "").startswith("low quality")
                                 else "not recognized")
        box = ",".join(f"{round(v) + 0:d}" for v in result.face.box)  # no "-0"
        raw = f", cosine {result.raw_score:.4f}" if result.score_kind != "cosine" else ""
        click.echo(f"{indent}face {number} [{box}]: {answer} (score {result.score:.4f}{raw}, "
                   f"threshold {result.threshold:.4f})")
        for candidate in result.candidates:
            click.echo(f"{indent}    {candidate.score:7.4f}  {shown(candidate.name)}")
