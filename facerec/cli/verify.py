"""``facerec verify`` (one pair of photos) and ``facerec eval pairs`` (the LFW protocol)."""

from __future__ import annotations

from pathlib import Path

import click

from facerec.cli.common import CONTEXT, QUIET, THRESHOLD, FaceRecGroup, emit, make_recognizer, model_options
from facerec.cli.options import ROBUST_HELP
from facerec.detection import Selection
from facerec.fileio import shown_path

__all__ = ["eval_group", "eval_pairs_command", "verify_command"]


@click.command("verify", context_settings=CONTEXT)
@click.argument("image_a", type=click.Path())
@click.argument("image_b", type=click.Path())
@model_options
@click.option("--far", type=float, default=None,
              help="The false-accept rate to keep: the fraction of pairs of different people called the same person "
                   "(default 0.001). The same decision as identify --fpir FAR against a gallery of IMAGE_A alone.")
@click.option("--threshold", type=THRESHOLD, default=None,
              help="A fixed cosine similarity threshold in [-1, 1] instead (no FAR is then promised).")
@click.option("--require-single", is_flag=True, help="Fail when a photo shows more than one face.")
@click.option("--robust", is_flag=True, help=ROBUST_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify_command(image_a: str, image_b: str, model: str, tag: str | None, weights: str | None,
                   no_flip: bool, far: float | None, threshold: float | None, require_single: bool, robust: bool,
                   as_json: bool) -> None:
    """Say whether IMAGE_A and IMAGE_B show the same person (exit 0 either way)."""
    from facerec.open_set import FAR, check_fpir

    if far is not None and threshold is not None:
        raise click.UsageError("--far and --threshold each set the decision: give one")
    far = check_fpir(FAR if far is None else far, "far")
    recognizer = make_recognizer(model, tag, weights, no_flip, threshold=threshold, robust=robust)
    result = recognizer.verify(image_a, image_b, require_single=require_single, far=far)
    if as_json:
        emit({"image_a": image_a, "image_b": image_b, "model": recognizer.model_key, "precision": recognizer.precision,
              **result.to_dict()})
        return
    for name, count in ((image_a, result.faces_a), (image_b, result.faces_b)):
        if count > 1:
            click.echo(f"note: {count} faces in {shown_path(name)}; using the largest", err=True)
    verdict = "same person" if result.same_person else "different people"
    if result.score_kind == "cosine":
        click.echo(f"similarity {result.similarity:.4f}  threshold {result.threshold:.4f}  -> {verdict}")
    else:
        click.echo(f"score {result.score:.3f} ({result.score_kind}; cosine {result.similarity:.4f})  threshold "
                   f"{result.threshold:.3f}  -> {verdict}")
    click.echo(f"decision: {result.decision}", err=True)


@click.group("eval", cls=FaceRecGroup, context_settings=CONTEXT)
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
    if plot is not None:  # before the evaluation, not after it
        from facerec.extras import import_extra

        import_extra("matplotlib", "--roc")
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
