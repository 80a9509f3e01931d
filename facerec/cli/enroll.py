"""The gallery commands that embed photos: ``facerec enroll`` and ``facerec identify``."""

from __future__ import annotations

import click

from facerec.cli.common import CONTEXT, QUIET, THRESHOLD, emit, is_file
from facerec.cli.options import GalleryOptions, gallery_options, shown

__all__ = ["count", "enroll_command", "identify_command"]


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
        raise click.UsageError(f"NAME {name!r} is a file: was the name forgotten? "
                               "(facerec enroll NAME IMAGE...; --name-is-path to use it as a name anyway)")
    gallery = options.open(create=True)
    new = not gallery.opened  # an existing gallery is opened at once; a new one on its first write
    if ray_address:
        from facerec.bulk import bulk_enroll

        report = bulk_enroll(gallery, from_dir, recipe=options.recipe(),  # type: ignore[arg-type]
                             address=None if ray_address == "local" else ray_address, workers=workers,
                             write_batch=write_batch, require_single=require_single,
                             allow_low_quality=allow_low_quality, progress=not (as_json or quiet))
        _enroll_summary(gallery, report, as_json)
    else:
        _enroll(gallery, name, images, from_dir, require_single, allow_duplicate, as_json, quiet,
                allow_low_quality=allow_low_quality)
    # A failed enrollment raised above and wrote nothing; no database file is ever deleted to undo one.
    if new and not as_json and gallery.opened:
        click.echo(f"created a new gallery at {shown(options.store.url)}", err=True)
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
            allow_low_quality: bool = False) -> None:
    if from_dir:
        report = gallery.enroll_dir(from_dir, progress=not (as_json or quiet), require_single=require_single,
                                    allow_duplicate=allow_duplicate, allow_low_quality=allow_low_quality)
        _enroll_summary(gallery, report, as_json)
        return
    assert name is not None  # noqa: S101 - checked by the command
    result = gallery.enroll(name, list(images), require_single=require_single, allow_duplicate=allow_duplicate,
                            allow_low_quality=allow_low_quality)
    calibration = gallery.calibration()  # refreshed now, stored in the gallery
    if as_json:
        emit({"name": result.name, "faces_added": len(result.added_ids), "already_enrolled": result.skipped,
              "open_set": calibration.to_dict()})
    else:
        click.echo(f"enrolled {result.name}: {count(len(result.added_ids), 'new face')}"
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


def _enroll_summary(gallery, report, as_json: bool) -> None:  # noqa: ANN001 - a Gallery, an EnrollReport
    """What enroll --from-dir did, as text or JSON (with the refreshed open-set calibration); an error when
    nothing at all could be enrolled."""
    calibration = gallery.calibration() if report.added else None  # refreshed now, stored in the gallery
    if as_json:
        emit({**report.to_dict(), "open_set": calibration.to_dict() if calibration else None})
    else:
        for path, error in report.failed:
            click.echo(f"skipped {path}: {error}", err=True)
        for person, other, score in report.duplicates:
            click.echo(f"skipped {person}: matches {other!r} already enrolled (score {score:.3f}); "
                       "--allow-duplicate to enroll anyway", err=True)
        click.echo("read one sub-folder per person" if report.layout == "folders" else
                   "no sub-folders: read one person per photo, named by the file name", err=True)
        click.echo(f"enrolled {count(sum(report.added.values()), 'face')} of "
                   f"{count(len(report.added), 'person', 'people')}; {report.already_enrolled} already "
                   f"enrolled; {count(len(report.failed), 'file')} skipped"
                   + (f"; {count(len(report.duplicates), 'person', 'people')} skipped as duplicates"
                      if report.duplicates else ""))
    if report.failed and not report.added and not report.already_enrolled:
        raise click.ClickException("nothing could be enrolled")


def count(number: int, singular: str, plural: str | None = None) -> str:
    """``1 person``, ``2 people``."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


@click.command("identify", context_settings=CONTEXT)
@click.argument("image", type=click.Path())
@gallery_options
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(1, 100), help="Candidates to list.")
@click.option("--all-faces", is_flag=True, help="Identify every face in the photo, not just the largest.")
@click.option("--require-single", is_flag=True, help="Refuse a photo that shows more than one face.")
@click.option("--threshold", type=THRESHOLD, default=None,
              help="A fixed cosine threshold in [-1, 1]: below it the answer is 'not recognized' (default: the "
                   "calibrated decision on cohort-normalised scores, aiming at 1% false alarms for the gallery's "
                   "size, stricter for low-quality faces).")
@QUIET
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def identify_command(image: str, options: GalleryOptions, top_k: int, all_faces: bool, require_single: bool,
                     threshold: float | None, quiet: bool, as_json: bool) -> None:
    """Say who is in IMAGE, or that the face is not recognized."""
    from enrollment import NoGalleryError

    gallery = options.open(threshold)
    if gallery.store.count_identities() == 0:
        raise NoGalleryError(f"the gallery at {shown(options.store.url)} is empty: enroll someone first")
    results = gallery.identify(image, top_k=top_k, all_faces=all_faces, require_single=require_single)
    if as_json:
        emit({"image": image, "threshold": results[0].threshold, "faces": [r.to_dict() for r in results],
              "open_set": None if threshold is not None else gallery.calibration().to_dict()})
        return
    for number, result in enumerate(results, start=1):
        answer = result.name or ("not recognized (low quality)" if (result.reason or "").startswith("low quality")
                                 else "not recognized")
        box = ",".join(f"{round(v) + 0:d}" for v in result.face.box)  # no "-0"
        raw = f", cosine {result.raw_score:.4f}" if result.score_kind != "cosine" else ""
        click.echo(f"face {number} [{box}]: {answer} (score {result.score:.4f}{raw}, threshold {result.threshold:.4f})")
        for candidate in result.candidates:
            click.echo(f"    {candidate.score:7.4f}  {candidate.name}")
