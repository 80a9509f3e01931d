"""The core commands: models, verify, eval, and the gallery (enroll, identify, list, remove, rename, index)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click

from index import KINDS

from facerec.cli.common import CONTEXT, FaceRecGroup, emit, make_recognizer, model_options


ROBUST_HELP = ("Re-encode each aligned face as JPEG before embedding, against adversarial photos "
               "(see the README for its cost and effect).")


@click.group(cls=FaceRecGroup, context_settings=CONTEXT)
@click.version_option(package_name="facerec")
def main() -> None:
    """Face verification and one-shot face recognition."""


@main.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def models_command(as_json: bool) -> None:
    """List the embedding models and their weights."""
    from facerec.models import list_weights

    rows = [
        {"model": w.model, "tag": w.tag, "default": default, "embedding_size": w.embedding_size,
         "input": w.alignment.size, "threshold": w.threshold, "file": w.filename,
         "url": w.url, "note": w.note}
        for w, default in list_weights()
    ]
    if as_json:
        emit({"models": rows})
        return
    for row in rows:
        star = "*" if row["default"] else " "
        click.echo(f"{star} {row['model'] + ':' + row['tag']:<36} {row['embedding_size']:>4}-d  "
                   f"{row['input']}px  threshold {row['threshold']:.3f}  {row['url'] or row['note']}")


@main.command("verify")
@click.argument("image_a", type=click.Path())
@click.argument("image_b", type=click.Path())
@model_options
@click.option("--threshold", type=float, default=None, help="Cosine similarity threshold (default: calibrated).")
@click.option("--require-single", is_flag=True, help="Fail when a photo shows more than one face.")
@click.option("--robust", is_flag=True, help=ROBUST_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify_command(image_a: str, image_b: str, model: str, tag: str | None, weights: str | None,
                   no_flip: bool, threshold: float | None, require_single: bool, robust: bool, as_json: bool) -> None:
    """Say whether IMAGE_A and IMAGE_B show the same person (exit 0 either way)."""
    recognizer = make_recognizer(model, tag, weights, no_flip, threshold=threshold, robust=robust)
    result = recognizer.verify(image_a, image_b, require_single=require_single)
    if as_json:
        emit({"image_a": image_a, "image_b": image_b, "model": recognizer.model_key, **result.to_dict()})
        return
    for name, count in ((image_a, result.faces_a), (image_b, result.faces_b)):
        if count > 1:
            click.echo(f"note: {count} faces in {name}; using the largest", err=True)
    verdict = "same person" if result.same_person else "different people"
    click.echo(f"similarity {result.similarity:.4f}  threshold {result.threshold:.4f}  -> {verdict}")


@main.group("eval", cls=FaceRecGroup)
def eval_group() -> None:
    """Measure accuracy on standard protocols."""


@eval_group.command("pairs")
@click.option("--pairs", "pairs_file", required=True, type=click.Path(), help="A file in LFW pairs.txt format.")
@click.option("--root", required=True, type=click.Path(), help="Folder holding Name/Name_NNNN.jpg.")
@model_options
@click.option("--select", type=click.Choice(["center", "largest"]), default="center", show_default=True,
              help="Which face to use when a photo has several (LFW photos are centred on the subject).")
@click.option("--roc", "roc_png", type=click.Path(dir_okay=False), default="roc.png", show_default=True,
              help="Where to save the ROC curve PNG.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Embedding cache folder (default: the user cache).")
@click.option("--no-cache", is_flag=True, help="Recompute every embedding.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def eval_pairs_command(pairs_file: str, root: str, model: str, tag: str | None, weights: str | None,
                       no_flip: bool, select: str, roc_png: str, cache_dir: str | None, no_cache: bool,
                       as_json: bool) -> None:
    """LFW View 2 protocol: mean accuracy over folds (threshold from the other folds), AUC, EER, TAR@FAR."""
    from platformdirs import user_cache_dir

    from facerec.evaluation.pairs import evaluate_pairs, read_pairs, save_roc_png

    pairs = read_pairs(pairs_file, root)
    recognizer = make_recognizer(model, tag, weights, no_flip)
    cache = None if no_cache else Path(cache_dir or Path(user_cache_dir("facerec")) / "eval")
    report = evaluate_pairs(recognizer, pairs, select=select, cache_dir=cache, progress=not as_json)
    save_roc_png(report, Path(roc_png))
    if as_json:
        emit({**report.to_dict(), "roc_png": roc_png})
        return
    click.echo(f"model            {report.model}")
    click.echo(f"pairs / images   {report.pairs} / {report.images}  (no face detected: {report.no_face}, "
               "scored with a fallback crop)")
    folds = "  ".join(f"{a:.2%}" for a in report.fold_accuracies)
    click.echo(f"accuracy         {report.accuracy:.2%} +- {report.accuracy_std:.2%}  (folds: {folds})")
    click.echo(f"ROC AUC          {report.auc:.4f}")
    click.echo(f"EER              {report.eer:.2%}")
    for far, tar in report.tar_at_far.items():
        click.echo(f"TAR @ FAR={far:<5} {tar:.2%}")
    click.echo(f"best threshold   {report.best_threshold_all:.4f} (all pairs; per fold: "
               f"{', '.join(f'{t:.3f}' for t in report.fold_thresholds)})")
    click.echo(f"threshold @ FAR=1e-3 {report.threshold_far_1e3:.4f}")
    click.echo(f"ROC curve        {roc_png}")


@dataclass(frozen=True)
class GalleryOptions:
    """The options every gallery command shares; ``open`` turns them into a Gallery."""

    db: str | None
    index_path: str | None
    index_kind: str
    model: str
    tag: str | None
    weights: str | None
    no_flip: bool
    robust: bool

    def open(self, threshold: float | None = None):
        from facerec.gallery import Gallery

        url = self.db if self.db is None or "://" in self.db else f"sqlite:///{Path(self.db).expanduser().resolve()}"
        recognizer = make_recognizer(self.model, self.tag, self.weights, self.no_flip, robust=self.robust)
        return Gallery(recognizer, db=url, index_path=self.index_path, threshold=threshold, index_kind=self.index_kind)


def gallery_options(command: Callable) -> Callable:
    """--db, --index and --index-kind plus the model options, handed to the command as ``options``."""

    @functools.wraps(command)
    def with_options(*args, db, index_path, index_kind, model, tag, weights, no_flip, robust, **kwargs):
        options = GalleryOptions(db, index_path, index_kind, model, tag, weights, no_flip, robust)
        return command(*args, options=options, **kwargs)

    options = [
        click.option("--db", default=None, envvar="FACEREC_DB",
                     help="Gallery database: a SQLAlchemy URL or a SQLite file path "
                          "(default: gallery.db in the user data folder)."),
        click.option("--index", "index_path", type=click.Path(dir_okay=False), default=None,
                     help="FAISS index file (default: beside a SQLite file, else in the user data folder)."),
        click.option("--index-kind", type=click.Choice(list(KINDS)), default="flat",
                     envvar="FACEREC_INDEX_KIND", show_default=True,
                     help="Exact search (flat), or for galleries of 100k+ faces pq (recommended: PQ shortlist, "
                          "exact re-rank), hnsw or ivf."),
        click.option("--robust", is_flag=True, help=ROBUST_HELP),
    ]
    return model_options(functools.reduce(lambda f, option: option(f), reversed(options), with_options))


@main.command("enroll")
@click.argument("name", required=False)
@click.argument("images", nargs=-1, type=click.Path())
@click.option("--from-dir", "from_dir", type=click.Path(file_okay=False), default=None,
              help="Enroll every person of a folder holding one sub-folder of photos per person.")
@gallery_options
@click.option("--require-single", is_flag=True, help="Refuse photos that show more than one face.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def enroll_command(name: str | None, images: tuple[str, ...], from_dir: str | None, options: GalleryOptions,
                   require_single: bool, as_json: bool) -> None:
    """Enroll NAME from one or more IMAGES (one photo is enough), or a whole folder with --from-dir.

    With NAME and IMAGES, all photos are added in one transaction: if any photo cannot be
    used, nothing is enrolled. With --from-dir, bad files are reported and skipped.
    """
    if from_dir and (name or images):
        raise click.UsageError("give either NAME IMAGE... or --from-dir, not both")
    if not from_dir and (not name or not images):
        raise click.UsageError("give a NAME and at least one IMAGE, or --from-dir DIR")
    gallery = options.open()
    if from_dir:
        report = gallery.enroll_dir(from_dir, progress=not as_json, require_single=require_single)
        if as_json:
            emit(report.to_dict())
        else:
            for path, error in report.failed:
                click.echo(f"skipped {path}: {error}", err=True)
            click.echo(f"enrolled {sum(report.added.values())} faces of {len(report.added)} people; "
                       f"{report.already_enrolled} already enrolled; {len(report.failed)} files skipped")
        if report.failed and not report.added and not report.already_enrolled:
            raise click.ClickException("nothing could be enrolled")
        return
    result = gallery.enroll(name, list(images), require_single=require_single)
    if as_json:
        emit({"name": result.name, "faces_added": len(result.added_ids), "already_enrolled": result.skipped})
    else:
        click.echo(f"enrolled {result.name}: {len(result.added_ids)} new faces"
                   + (f", {result.skipped} already enrolled" if result.skipped else ""))


@main.command("identify")
@click.argument("image", type=click.Path())
@gallery_options
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(1, 100), help="Candidates to list.")
@click.option("--all-faces", is_flag=True, help="Identify every face in the photo, not just the largest.")
@click.option("--threshold", type=float, default=None,
              help="Open-set threshold: below it the answer is 'not recognized' "
                   "(default: calibrated for the gallery's size, aiming at 1% false alarms).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def identify_command(image: str, options: GalleryOptions, top_k: int, all_faces: bool, threshold: float | None,
                     as_json: bool) -> None:
    """Say who is in IMAGE, or that the face is not recognized."""
    gallery = options.open(threshold)
    results = gallery.identify(image, top_k=top_k, all_faces=all_faces)
    if as_json:
        emit({"image": image, "threshold": results[0].threshold, "faces": [r.to_dict() for r in results]})
        return
    for number, result in enumerate(results, start=1):
        answer = result.name if result.name else "not recognized"
        box = ",".join(f"{v:.0f}" for v in result.face.box)
        click.echo(f"face {number} [{box}]: {answer} (score {result.score:.4f}, threshold {result.threshold:.4f})")
        for candidate in result.candidates:
            click.echo(f"    {candidate.score:7.4f}  {candidate.name}")


@main.command("list")
@gallery_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(options: GalleryOptions, as_json: bool) -> None:
    """List enrolled people and how many faces each has."""
    gallery = options.open()
    people = gallery.identities()
    if as_json:
        emit({"identities": [{"name": p.name, "faces": p.faces, "created_at": p.created_at} for p in people]})
        return
    for person in people:
        click.echo(f"{person.faces:4d}  {person.name}")
    click.echo(f"{len(people)} people, {sum(p.faces for p in people)} faces", err=True)


@main.command("remove")
@click.argument("name")
@gallery_options
def remove_command(name: str, options: GalleryOptions) -> None:
    """Remove NAME and all their faces from the gallery."""
    faces = options.open().remove(name)
    click.echo(f"removed {name} ({faces} faces)")


@main.command("rename")
@click.argument("old")
@click.argument("new")
@gallery_options
def rename_command(old: str, new: str, options: GalleryOptions) -> None:
    """Rename identity OLD to NEW."""
    options.open().rename(old, new)
    click.echo(f"renamed {old} -> {new}")


@main.group("index", cls=FaceRecGroup)
def index_group() -> None:
    """Inspect or rebuild the gallery's FAISS index."""


@index_group.command("rebuild")
@gallery_options
def index_rebuild_command(options: GalleryOptions) -> None:
    """Rebuild the index from the database."""
    gallery = options.open()
    gallery.store.rebuild()
    stats = gallery.store.stats()
    click.echo(f"rebuilt {stats['index_path']}: {stats['indexed']} faces, revision {stats['revision']}")


@index_group.command("stats")
@gallery_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def index_stats_command(options: GalleryOptions, as_json: bool) -> None:
    """Show the gallery's size and whether its index is in step with the database."""
    stats = options.open().store.stats()
    if as_json:
        emit(stats)
        return
    for key, value in stats.items():
        click.echo(f"{key:<12} {value}")

