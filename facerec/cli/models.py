"""``facerec models`` (what can run, and where its weights are) and ``facerec models prepare`` (make it ready)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from facerec.cli.common import CONTEXT, FaceRecGroup, emit, model_options, pipeline_config

__all__ = ["models_group", "prepare_command"]


@click.group("models", cls=FaceRecGroup, context_settings=CONTEXT, invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models_group(ctx: click.Context, as_json: bool) -> None:
    """List the embedding models and face detectors, and their weights (prepare: build their ONNX files)."""
    if ctx.invoked_subcommand is None:
        list_models(as_json)


@models_group.command("prepare")
@model_options
@click.option("--robust", is_flag=True, help="Prepare the --robust pipeline (the JPEG defence) too.")
@click.option("--cohort-photos", type=click.Path(file_okay=False), default=None, envvar="FACEREC_COHORT_PHOTOS",
              help="A data folder holding the photos of the model's score-normalisation cohort (laid out as "
                   "../shared/data): embed them once, for identification's cohort-normalised decision. Without "
                   "it identify uses plain cosine scores.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def prepare_command(model: str, tag: str | None, weights: str | None, no_flip: bool, robust: bool,
                    cohort_photos: str | None, as_json: bool) -> None:
    """Make the pipeline ready ahead of time: find (or download) its weights, and build every ONNX export and
    int8 model it runs, then say where they are. For images, CI and offline machines; the same options as
    verify choose the pipeline (the default one without options)."""
    from facerec.config import build_recognizer
    from facerec.models.detectors import get_detector_spec
    from facerec.models.embedders import get_weights
    from facerec.models.weights import resolve_weights
    from facerec.runtime import cache_files_used, onnx_cache_dir

    config = pipeline_config(robust=robust)
    weights_files = [resolve_weights(get_weights(config.model, config.tag), config.weights)]
    for name in config.detectors if config.detect else ():
        spec = get_detector_spec(name).weights
        if spec is not None:
            weights_files.append(resolve_weights(spec))
    recognizer = build_recognizer(config)  # exports and quantizes what is missing (a note on stderr for each)
    cohort = None
    if cohort_photos:
        from facerec.cohort import prepare_cohort

        cohort = str(prepare_cohort(recognizer, Path(cohort_photos)))
    made = [path for path in cache_files_used() if path.is_file() and str(path) != cohort]
    report = {"model": recognizer.model_key, "backend": recognizer.backend, "precision": recognizer.precision,
              "detector": config.detector if config.detect else "face-crop", "landmarks": config.landmarks,
              "cache_dir": str(onnx_cache_dir()), "weights": [str(p) for p in weights_files],
              "onnx": [str(p) for p in made], "cohort": cohort}
    if as_json:
        emit(report)
        return
    click.echo(f"ready: {report['model']} ({report['backend']}, {report['precision']}), detector "
               f"{report['detector']}, landmarks {report['landmarks']}")
    for path in weights_files:
        click.echo(f"weights  {path}")
    for path in made:
        click.echo(f"onnx     {Path(path)}")
    click.echo(f"cohort   {cohort or 'not prepared (--cohort-photos DIR): identify uses cosine scores'}")


def list_models(as_json: bool) -> None:
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
