"""``facerec models`` (what can run, and where its weights are) and ``facerec models prepare`` (make it ready)."""

from __future__ import annotations

from pathlib import Path

import click

from facerec.cli.common import CONTEXT, FaceRecGroup, emit, model_options, pipeline_config

__all__ = ["models_group", "prepare_command"]


@click.group("models", cls=FaceRecGroup, context_settings=CONTEXT, invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models_group(ctx: click.Context, as_json: bool) -> None:
    """List the embedding models and face detectors, and their weights (prepare: build their ONNX files)."""
    if ctx.invoked_subcommand is None:
        from facerec.cli.core import models_command

        ctx.invoke(models_command, as_json=as_json)


@models_group.command("prepare")
@model_options
@click.option("--robust", is_flag=True, help="Prepare the --robust pipeline (the JPEG defence) too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def prepare_command(model: str, tag: str | None, weights: str | None, no_flip: bool, robust: bool,
                    as_json: bool) -> None:
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
    made = [path for path in cache_files_used() if path.is_file()]
    report = {"model": recognizer.model_key, "backend": recognizer.backend, "precision": recognizer.precision,
              "detector": config.detector if config.detect else "face-crop", "landmarks": config.landmarks,
              "cache_dir": str(onnx_cache_dir()), "weights": [str(p) for p in weights_files],
              "onnx": [str(p) for p in made]}
    if as_json:
        emit(report)
        return
    click.echo(f"ready: {report['model']} ({report['backend']}, {report['precision']}), detector "
               f"{report['detector']}, landmarks {report['landmarks']}")
    for path in weights_files:
        click.echo(f"weights  {path}")
    for path in made:
        click.echo(f"onnx     {Path(path)}")
