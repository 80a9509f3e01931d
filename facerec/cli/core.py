"""The core commands: models, verify, eval, and the gallery (enroll, identify, list, remove, rename, index)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import click

from facerec.cli.common import CONTEXT, QUIET, THRESHOLD, FaceRecGroup, emit, is_file, make_recognizer, model_options
from facerec.detection import Selection
from index import KINDS, IndexKind

ROBUST_HELP = ("Re-encode each aligned face as JPEG before embedding, against adversarial photos "
               "(see the README for its cost and effect).")


@click.group(cls=FaceRecGroup, context_settings=CONTEXT)
@click.version_option(package_name="facerec")
def main() -> None:
    """Face verification and one-shot face recognition."""


@main.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def models_command(as_json: bool) -> None:
    """List the embedding models and face detectors, and their weights."""
    from facerec.cli.common import DEFAULT_MODEL
    from facerec.models import DEFAULT_DETECTOR, list_detectors, list_weights
    from facerec.models.detectors import get_detector_spec
    from facerec.models.embedders.int8 import calibration_path

    rows: list[dict[str, Any]] = [
        {"model": w.model, "tag": w.tag, "default": default and w.model == DEFAULT_MODEL, "default_tag": default,
         "embedding_size": w.embedding_size, "input": w.alignment.size, "threshold": w.threshold,
         "int8": calibration_path(w) is not None,
         "file": w.filename, "local": _local(w), "url": w.url, "sha256": w.sha256, "license": w.license,
         "note": w.note}
        for w, default in list_weights()
    ]
    defaults = DEFAULT_DETECTOR.split(",")
    detectors: list[dict[str, Any]] = []
    for name in list_detectors():
        spec = get_detector_spec(name)
        weights = spec.weights
        local = _local(weights) if weights else "bundled" if spec.trained_weights is None else spec.trained_weights()
        detectors.append({"detector": name, "default": name in defaults, "backends": list(spec.backends),
                          "file": weights.filename if weights else None, "released": spec.released,
                          "local": None if local is None else str(local), "url": weights.url if weights else None,
                          "sha256": weights.sha256 if weights else None,
                          "license": weights.license if weights else None, "note": spec.note})
    if as_json:
        emit({"models": rows, "detectors": detectors, "default_model": DEFAULT_MODEL,
              "default_detector": DEFAULT_DETECTOR})
        return
    click.echo(f"embedders (* = the default, --model {DEFAULT_MODEL}; + = a model's default weights; "
               "local: where the weights file is found here):")
    for row in rows:
        star = "*" if row["default"] else "+" if row["default_tag"] else " "
        unchecked = "" if row["sha256"] else "  (no published sha256: not checked)"
        click.echo(f"{star} {row['model'] + ':' + row['tag']:<36} {row['embedding_size']:>4}-d  "
                   f"{row['input']}px  threshold {row['threshold']:.3f}  {'int8' if row['int8'] else 'fp32'}  "
                   f"local: {row['local'] or 'missing'}\n"
                   f"      {row['url'] or row['note']}{unchecked}")
    click.echo(f"detectors (* = in the default cascade, --detector {DEFAULT_DETECTOR}):")
    for row in detectors:
        star = "*" if row["default"] else " "
        local = row["local"] or ("missing" if row["released"] else "none (no released weights)")
        click.echo(f"{star} {row['detector']:<12} {'/'.join(row['backends']):<11} local: {local}"
                   f"\n      {row['url'] or row['note']}")


def _local(weights: Any) -> str | None:
    """Where the weights file is found without downloading; None when nowhere, or why it is refused."""
    from facerec.errors import WeightsHashError, WeightsNotFoundError
    from facerec.models.weights import resolve_weights

    try:
        return str(resolve_weights(weights, download=False))
    except WeightsHashError:
        return "refused: a file with another sha256 is in its place"
    except WeightsNotFoundError:
        return None


@main.command("verify")
@click.argument("image_a", type=click.Path())
@click.argument("image_b", type=click.Path())
@model_options
@click.option("--threshold", type=THRESHOLD, default=None,
              help="Cosine similarity threshold in [-1, 1] (default: calibrated).")
@click.option("--require-single", is_flag=True, help="Fail when a photo shows more than one face.")
@click.option("--robust", is_flag=True, help=ROBUST_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify_command(image_a: str, image_b: str, model: str, tag: str | None, weights: str | None,
                   no_flip: bool, threshold: float | None, require_single: bool, robust: bool, as_json: bool) -> None:
    """Say whether IMAGE_A and IMAGE_B show the same person (exit 0 either way)."""
    recognizer = make_recognizer(model, tag, weights, no_flip, threshold=threshold, robust=robust)
    result = recognizer.verify(image_a, image_b, require_single=require_single)
    if as_json:
        emit({"image_a": image_a, "image_b": image_b, "model": recognizer.model_key, "precision": recognizer.precision,
              **result.to_dict()})
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
@click.option("--plot", "--roc", "plot", type=click.Path(dir_okay=False), default=None,
              help="Save the ROC curve (true accepts against false accepts on a log scale) as a PNG here "
                   "(default: no plot).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Embedding cache folder (default: the user cache).")
@click.option("--no-cache", is_flag=True, help="Recompute every embedding.")
@QUIET
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def eval_pairs_command(pairs_file: str, root: str, model: str, tag: str | None, weights: str | None,
                       no_flip: bool, select: Selection, plot: str | None, cache_dir: str | None, no_cache: bool,
                       quiet: bool, as_json: bool) -> None:
    """LFW View 2 protocol: mean accuracy over folds (threshold from the other folds), AUC, EER, TAR@FAR."""
    from platformdirs import user_cache_dir

    from facerec.evaluation.pairs import evaluate_pairs, read_pairs, save_roc_png

    pairs = read_pairs(pairs_file, root)
    recognizer = make_recognizer(model, tag, weights, no_flip)
    cache = None if no_cache else Path(cache_dir or Path(user_cache_dir("facerec")) / "eval")
    report = evaluate_pairs(recognizer, pairs, select=select, cache_dir=cache, progress=not (as_json or quiet))
    if plot is not None:
        save_roc_png(report, Path(plot))
    if as_json:
        emit({**report.to_dict(), "roc_png": plot})
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
    if plot is not None:
        click.echo(f"ROC curve        {plot}")


@dataclass(frozen=True)
class StoreOptions:
    """Where the gallery is: --db, --vectors (or --index); and --index-kind, the kind of vector index a new
    gallery starts with (None: the gallery's own; only `index rebuild` changes it)."""

    db: str | None
    index_path: str | None
    index_kind: IndexKind | None
    vectors: str | None = None

    @property
    def vectors_uri(self) -> str:
        """--vectors, else --index, else FACEREC_VECTORS, else the FAISS file beside the database."""
        from facerec.gallery import default_vectors

        return self.vectors or self.index_path or default_vectors(self.url)

    @property
    def url(self) -> str:
        from facerec.gallery import db_url, default_db_url

        return db_url(self.db) if self.db else default_db_url()

    def info(self) -> tuple[str, int] | None:
        """The model key and dimension the gallery is bound to; None when there is no gallery."""
        from enrollment import read_info

        return read_info(self.url)

    def require(self) -> tuple[str, int]:
        """The gallery's model and dimension, or a clear error when there is no gallery there."""
        from enrollment import NoGalleryError

        info = self.info()
        if info is None:
            raise NoGalleryError(f"no gallery at {_shown(self.url)} (enroll someone first, or check --db / FACEREC_DB)")
        return info

    def open_store(self):  # noqa: ANN201 - an enrollment.Gallery
        """The gallery's store and index, without the model: for commands that do not embed."""
        from enrollment import Gallery as Store

        model, dim = self.require()
        return Store(self.url, model=model, dim=dim, vectors=self.vectors_uri, index_kind=self.index_kind)


@dataclass(frozen=True)
class GalleryOptions:
    """The options every gallery command that embeds shares; ``open`` turns them into a Gallery."""

    store: StoreOptions
    model: str
    tag: str | None
    weights: str | None
    no_flip: bool
    robust: bool

    def open(self, threshold: float | None = None, *, create: bool = False, announce: bool = True):  # noqa: ANN201
        """The gallery; a missing one is created (and said so on stderr, unless not ``announce``) only when
        ``create``."""
        from facerec.gallery import Gallery

        exists = self.store.info() is not None
        if not exists and not create:
            self.store.require()
        recognizer = make_recognizer(self.model, self.tag, self.weights, self.no_flip, robust=self.robust)
        gallery = Gallery(recognizer, db=self.store.url, vectors=self.store.vectors_uri, threshold=threshold,
                          index_kind=self.store.index_kind)
        if not exists and announce:
            click.echo(f"created a new gallery at {_shown(self.store.url)}", err=True)
        return gallery


    def recipe(self):  # noqa: ANN201 - a facerec.config.PipelineConfig
        """The pipeline these options make, which each Ray actor builds its recognizer from."""
        from facerec.cli.common import pipeline_config

        return pipeline_config(robust=self.robust)


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else \
        make_url(url).render_as_string(hide_password=True)


_STORE_OPTIONS = [
    click.option("--db", default=None, envvar="FACEREC_DB",
                 help="Gallery database: a SQLAlchemy URL or a SQLite file path "
                      "(default: gallery.db in the user data folder)."),
    click.option("--index", "index_path", type=click.Path(dir_okay=False), default=None,
                 help="FAISS index file (default: beside a SQLite file, else in the user data folder)."),
    click.option("--vectors", default=None,
                 help="Vector store, named by its scheme: a FAISS file (a path, whatever its name, or "
                      "faiss:///path), milvus:///path/faces.db (Milvus Lite, embedded; needs facerec[milvus]) or "
                      "http://host:19530 (a Milvus server). Default: FACEREC_VECTORS, else the FAISS file of --index."),
    click.option("--index-kind", type=click.Choice(list(KINDS)), default=None,
                 help="The kind of vector index: exact search (flat), or for galleries of 100k+ faces pq "
                      "(recommended: PQ shortlist, exact re-rank), hnsw or ivf. A gallery keeps its kind (a new "
                      "one: this, else flat); `facerec index rebuild --index-kind KIND` changes it."),
]


def store_options(command: Callable) -> Callable:
    """--db, --index, --vectors and --index-kind, handed to the command as ``store``: no model is loaded."""

    @functools.wraps(command)
    def with_options(*args, db, index_path, vectors, index_kind, **kwargs):  # noqa: ANN202
        return command(*args, store=StoreOptions(db, index_path, index_kind, vectors), **kwargs)

    return functools.reduce(lambda f, option: option(f), reversed(_STORE_OPTIONS), with_options)


def gallery_options(command: Callable) -> Callable:
    """The store options plus the model and pipeline options and --robust, handed to the command as ``options``."""

    @functools.wraps(command)
    def with_options(*args, db, index_path, vectors, index_kind, model, tag, weights, no_flip, robust,  # noqa: ANN202
                     **kwargs):
        options = GalleryOptions(StoreOptions(db, index_path, index_kind, vectors), model, tag, weights, no_flip,
                                 robust)
        return command(*args, options=options, **kwargs)

    options = [*_STORE_OPTIONS, click.option("--robust", is_flag=True, help=ROBUST_HELP)]
    return model_options(functools.reduce(lambda f, option: option(f), reversed(options), with_options))



@main.command("enroll")
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
    new = options.store.info() is None
    gallery = options.open(create=True, announce=False)
    if ray_address:
        from facerec.bulk import bulk_enroll

        report = bulk_enroll(gallery, from_dir, recipe=options.recipe(),  # type: ignore[arg-type]
                             address=None if ray_address == "local" else ray_address, workers=workers,
                             write_batch=write_batch, require_single=require_single,
                             progress=not (as_json or quiet))
        _enroll_summary(gallery, report, as_json)
    else:
        _enroll(gallery, name, images, from_dir, require_single, allow_duplicate, as_json, quiet,
                allow_low_quality=allow_low_quality)
    # A failed enrollment raised above and wrote nothing; no database file is ever deleted to undo one.
    if new and not as_json and gallery.opened:
        click.echo(f"created a new gallery at {_shown(options.store.url)}", err=True)
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
        click.echo(f"enrolled {result.name}: {_count(len(result.added_ids), 'new face')}"
                   + (f", {result.skipped} already enrolled" if result.skipped else "")
                   + f"; open-set threshold {calibration.threshold:.3f} ({_chosen(calibration)})")


def _chosen(calibration) -> str:  # noqa: ANN001 - an OpenSetCalibration
    """How the open-set threshold was chosen, in words."""
    people = _count(calibration.people, "person", "people")
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
        click.echo(f"enrolled {_count(sum(report.added.values()), 'face')} of "
                   f"{_count(len(report.added), 'person', 'people')}; {report.already_enrolled} already "
                   f"enrolled; {_count(len(report.failed), 'file')} skipped"
                   + (f"; {_count(len(report.duplicates), 'person', 'people')} skipped as duplicates"
                      if report.duplicates else ""))
    if report.failed and not report.added and not report.already_enrolled:
        raise click.ClickException("nothing could be enrolled")


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


@main.command("identify")
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
        raise NoGalleryError(f"the gallery at {_shown(options.store.url)} is empty: enroll someone first")
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


@main.command("list")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(store: StoreOptions, as_json: bool) -> None:
    """List enrolled people and how many faces each has."""
    people = store.open_store().identities()
    if as_json:
        # the shape of GET /v1/people: the people, how many (count), and their faces in all
        emit({"people": [{"name": p.name, "faces": p.faces, "created_at": p.created_at} for p in people],
              "count": len(people), "faces": sum(p.faces for p in people)})
        return
    for person in people:
        click.echo(f"{person.faces:4d}  {person.name}")
    click.echo(f"{_count(len(people), 'person', 'people')}, {_count(sum(p.faces for p in people), 'face')}",
               err=True)


@main.command("remove")
@click.argument("name")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def remove_command(name: str, store: StoreOptions, as_json: bool) -> None:
    """Remove NAME and all their faces from the gallery (database and index at once)."""
    faces = store.open_store().remove(name)
    if as_json:
        emit({"removed": name, "faces_removed": faces})
    else:
        click.echo(f"removed {name} ({_count(faces, 'face')})")


@main.command("rename")
@click.argument("old")
@click.argument("new")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rename_command(old: str, new: str, store: StoreOptions, as_json: bool) -> None:
    """Rename identity OLD to NEW."""
    store.open_store().rename(old, new)
    if as_json:
        emit({"renamed": old, "to": new})
    else:
        click.echo(f"renamed {old} -> {new}")


@main.group("index", cls=FaceRecGroup)
def index_group() -> None:
    """Inspect or rebuild the gallery's vector store (FAISS or Milvus)."""


@index_group.command("rebuild")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def index_rebuild_command(store: StoreOptions, as_json: bool) -> None:
    """Rebuild the vector store from the database (streamed in batches: bounded memory).

    With --index-kind, rebuild it as that kind of index, which the gallery keeps from then on.
    """
    gallery = replace(store, index_kind=None).open_store()
    gallery.rebuild(store.index_kind)
    stats = gallery.stats()
    if as_json:
        emit(stats)
    else:
        click.echo(f"rebuilt {stats['index_path']}: {_count(stats['indexed'], 'face')}, revision {stats['revision']}")


@index_group.command("stats")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def index_stats_command(store: StoreOptions, as_json: bool) -> None:
    """Show the gallery's size and whether its index is in step with the database."""
    stats = store.open_store().stats()
    if as_json:
        emit(stats)
        return
    open_set = stats.pop("open_set")
    current = stats.pop("open_set_current")
    for key, value in stats.items():
        click.echo(f"{key:<12} {value}")
    if open_set:
        click.echo(f"{'open set':<12} threshold {open_set['threshold']:.3f} from the {open_set['source']} "
                   f"(model {open_set['model_threshold']:.3f}, gallery "
                   + (f"{open_set['gallery_threshold']:.3f}" if open_set["gallery_threshold"] is not None else "-")
                   + f", {open_set['people']} people)" + ("" if current else "; stale: refreshed on the next "
                                                          "enroll or identify"))
