"""``facerec models`` (what can run, and where its weights are), ``models prepare`` (make it ready), ``models add``
and ``models remove`` (the user's own ONNX embedders) and ``models export`` (the default ONNX files, from torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from facerec.cli.common import CONTEXT, FaceRecGroup, emit, make_recognizer, model_options, pipeline_config

__all__ = ["add_command", "calibrate_command", "export_command", "models_group", "prepare_command",
           "remove_command"]


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
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def prepare_command(model: str, tag: str | None, weights: str | None, no_flip: bool, robust: bool,
                    as_json: bool) -> None:
    """Make the pipeline ready ahead of time: find (or download) its weights, and build every ONNX export and
    int8 model it runs, then say where they are. For images, CI and offline machines; the same options as
    verify choose the pipeline (the default one without options), but for --no-flip, which changes how faces
    are embedded at run time and nothing prepared."""
    from facerec.errors import WeightsNotFoundError
    from facerec.models.detectors import get_detector_spec
    from facerec.models.embedders import get_weights, model_file
    from facerec.models.weights import resolve_weights
    from facerec.recognizer import build_recognizer
    from facerec.runtime import cache_files_used, onnx_cache_dir, preparing_ahead

    if no_flip:  # flip is how faces are embedded at run time: nothing prepared depends on it
        raise click.UsageError("--no-flip changes how faces are embedded at run time, not what is prepared: "
                               "leave it out")
    config = pipeline_config(robust=robust)
    embedder = model_file(config.model, tag=config.tag, weights_path=config.weights)
    weights_files = [embedder.onnx or resolve_weights(get_weights(config.model, config.tag), config.weights)]
    for name in config.detectors if config.detect else ():
        spec = get_detector_spec(name)
        for entry in (spec.onnx, spec.weights):
            if entry is not None:
                try:
                    weights_files.append(resolve_weights(entry, download=entry is spec.weights))
                    break
                except WeightsNotFoundError:
                    if entry is spec.weights:
                        raise
    with preparing_ahead():
        recognizer = build_recognizer(config)  # exports and quantizes what is missing (a note on stderr for each)
    made = [path for path in cache_files_used() if path.is_file()]
    cohort, _ = recognizer.cohort()
    report = {"model": recognizer.model_key, "backend": recognizer.backend, "precision": recognizer.precision,
              "detector": config.detector if config.detect else "face-crop", "landmarks": config.landmarks,
              "cache_dir": str(onnx_cache_dir()), "weights": [str(p) for p in weights_files],
              "onnx": [str(p) for p in made], "calibration": cohort.describe() if cohort else None,
              "calibration_file": str(cohort.record) if cohort and cohort.record else None}
    if as_json:
        emit(report)
        return
    click.echo(f"ready: {report['model']} ({report['backend']}, {report['precision']}), detector "
               f"{report['detector']}, landmarks {report['landmarks']}")
    for path in weights_files:
        click.echo(f"weights  {path}")
    for path in made:
        click.echo(f"onnx     {Path(path)}")
    click.echo(f"calibration {report['calibration'] or 'none for this pipeline: plain cosine scores'}"
               + (f" ({report['calibration_file']})" if report["calibration_file"] else ""))


@models_group.command("calibrate")
@model_options
@click.option("--photos", "folders", multiple=True, required=True, metavar="[NAME=]DIR",
              help="A folder of folders, one per person, several photos each (your own cameras, or any labelled "
                   "set); give it once per condition (e.g. office=DIR1 --photos badge=DIR2), each measured on its "
                   "own.")
@click.option("--fpir", type=float, default=None, help="The FPIR the report measures identify at (default 0.01).")
@click.option("--far", type=float, default=None, help="The FAR the report measures verify at (default 0.001).")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Draw the held-out DET curves to this PNG file (needs the plots extra).")
@click.option("--keep-faces", is_flag=True,
              help="Keep the cohort people's faces as they are, not as averages of five people's faces: a sharper "
                   "cohort, but the calibration then holds face templates of those people (kept on this machine).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def calibrate_command(model: str, tag: str | None, weights: str | None, no_flip: bool, folders: tuple[str, ...],
                      fpir: float | None, far: float | None, plot: str | None, keep_faces: bool, as_json: bool) -> None:
    """Calibrate the model's decisions (identify's FPIR tables by gallery size, verify's FAR) on your photos.

    A quarter of each folder's people make the score-normalisation cohort (kept only as averages of five people's
    faces), a quarter calibrate, and the other half are held out: FNIR, FPIR, FAR and TAR are measured on them,
    with 95% intervals. The result goes to your model folder and is used from then on for this model, in place of
    the one it ships with; the embedding-space settings (precision, flip, landmarks...) are recorded with it."""
    import sys

    from facerec.calibration import PhotoFolder, build_calibration, det_plot, write_calibration
    from facerec.cohort import calibration_files
    from facerec.open_set import FAR, FPIR, check_fpir

    fpir, far = check_fpir(FPIR if fpir is None else fpir), check_fpir(FAR if far is None else far, "far")
    recognizer = make_recognizer(model, tag, weights, no_flip)
    command = "facerec models calibrate " + " ".join(f"--photos {folder}" for folder in folders) + \
        (" --keep-faces" if keep_faces else "")
    calibration, _, _ = build_calibration(
        recognizer, [PhotoFolder.of(folder) for folder in folders], fpir=fpir, far=far, progress=not as_json,
        command=command, log=None if as_json else (lambda line: click.echo(line, err=True)), keep_faces=keep_faces)
    record = calibration_files(recognizer.weights)[0]
    write_calibration(calibration, record)
    if plot:
        det_plot(calibration.report, Path(plot))
    summary = {"model": recognizer.model_key, "record": str(record),
               "people": {role: len(names) for role, names in calibration.record["people"].items()},
               "cohort_entries": calibration.record["cohort_entries"], "plot": plot,
               "report": calibration.record["report"]}
    if as_json:
        emit(summary)
        return
    out = sys.stdout
    people = summary["people"]
    click.echo(f"calibrated {summary['model']} on {people['calibration']} people (cohort: {people['cohort']} people "
               f"as {summary['cohort_entries']} entries of five); measured on {people['held_out']} held-out people:",
               file=out)
    for group, found in calibration.record["report"]["groups"].items():
        identify, verify = found["identify"], found["verify"]
        click.echo(f"  {group}: identify at FPIR {fpir:g}, gallery of {identify['gallery_size']}: "
                   f"FNIR {_shown(identify['fnir'])}, FPIR {_shown(identify['fpir'])}", file=out)
        click.echo(f"  {'':<{len(group)}}  verify at FAR {far:g}: FAR {_shown(verify['far'])}, "
                   f"TAR {_shown(verify['tar'])}", file=out)
    click.echo(f"wrote {record}" + (f"; DET plot {plot}" if plot else ""), file=out)


def _shown(rate: dict[str, Any]) -> str:
    """``"1.20% [0.80, 1.70] (24 of 2000, 51 people)"``."""
    if rate["rate"] is None:
        return "- (nothing to measure)"
    low, high = rate["ci95"]
    return f"{rate['rate']:.2%} [{low:.2%}, {high:.2%}] ({rate['count']} of {rate['of']}, {rate['people']} people)"


def _numbers(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """``"0.5, 0.5, 0.5"`` as its parts; the spec checks that they are three numbers (one line if not)."""
    return None if value is None else [part.strip() for part in value.split(",")]


@models_group.command("add")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--spec", "spec_file", type=click.Path(dir_okay=False), default=None,
              help="A JSON spec (the fields below); the options given override it.")
@click.option("--input-size", type=int, default=None, help="Side of the square face crop it takes, in pixels [112].")
@click.option("--colour", type=click.Choice(["rgb", "bgr"]), default=None, help="Channel order it wants [rgb].")
@click.option("--mean", callback=_numbers, default=None,
              help="Per-channel mean on pixels scaled to [0, 1], e.g. 0.5,0.5,0.5 [0.5,0.5,0.5].")
@click.option("--std", callback=_numbers, default=None,
              help="Per-channel std on pixels scaled to [0, 1] (127.5 on 0-255 is 0.5) [0.5,0.5,0.5].")
@click.option("--template", type=click.Choice(["arcface", "box"]), default=None,
              help="Alignment: the ArcFace five-point template, or the detector's box [arcface].")
@click.option("--embedding-size", type=int, default=None, help="Length of its embedding (read from the file).")
@click.option("--threshold", type=float, default=None,
              help="Cosine similarity from which two faces are the same person; measure it with `facerec eval "
                   "pairs --model NAME` [0.3].")
@click.option("--identify-threshold", type=float, default=None, help="Stricter threshold for 1:N [--threshold].")
@click.option("--license", "license_", default=None, help="The model's license, as its README gives it.")
@click.option("--url", default=None, help="Where the file is published.")
@click.option("--sha256", default=None, help="The published sha256 of the file: checked before it is added.")
@click.option("--note", default=None, help="A line about the model (training data, accuracy).")
@click.option("--replace", is_flag=True, help="Replace a model added before under NAME.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def add_command(name: str, file: str, spec_file: str | None, replace: bool, as_json: bool, **fields: Any) -> None:
    """Add the ONNX face embedder FILE as model NAME: it is checked (it opens, takes N x 3 x S x S faces and
    gives a vector per face), copied into the user's model folder with its spec, and `--model NAME` then runs
    it in every command. Its galleries are its own: they refuse other models' faces."""
    import json

    from facerec.models.embedders.custom import EmbedderSpec, ModelSpecError, add_model

    data: dict[str, Any] = {}
    if spec_file is not None:
        try:
            data = json.loads(Path(spec_file).read_text())
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise ModelSpecError(f"cannot read the spec {spec_file}: {exc}") from None
        if not isinstance(data, dict):
            raise ModelSpecError(f"the spec {spec_file} must be a JSON object")
    data.update({("license" if key == "license_" else key): value for key, value in fields.items()
                 if value is not None})
    weights = add_model(name, file, EmbedderSpec.from_dict(data), replace=replace)
    if as_json:
        emit({"model": weights.key, "embedding_size": weights.embedding_size, "input": weights.alignment.size,
              "colour": weights.colour, "threshold": weights.threshold, "sha256": weights.sha256})
        return
    click.echo(f"added {weights.key}: {weights.embedding_size}-d, {weights.alignment.size}px "
               f"{weights.colour.upper()}, threshold {weights.threshold:.3f}; use it with --model {name}")


@models_group.command("remove")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def remove_command(name: str, as_json: bool) -> None:
    """Remove the model NAME added with `facerec models add` (galleries enrolled with it stay, unusable
    until it is added again)."""
    from facerec.models.embedders.custom import remove_model

    folder = remove_model(name)
    if as_json:
        emit({"removed": name, "folder": str(folder)})
        return
    click.echo(f"removed {name} ({folder})")


@models_group.command("export")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder to write the ONNX files into.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def export_command(out: str, as_json: bool) -> None:
    """Make the default pipeline's ONNX files again from their PyTorch weights (needs the torch extra), and
    say whether each is byte for byte the published one."""
    from facerec.models.export import export_default_pipeline

    files = export_default_pipeline(out)
    if as_json:
        emit({"files": [{"path": str(f.path), "sha256": f.sha256, "published": f.identical} for f in files]})
        return
    for exported in files:
        same = "the published file" if exported.identical else "differs from the published file (another exporter)"
        click.echo(f"{exported.path}  sha256 {exported.sha256}  {same}")


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
         "file": w.filename, "local": _local(w), "onnx": _local(w.onnx) if w.onnx else None,
         "url": w.url, "sha256": w.sha256, "license": w.license,
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
                   f"local: {row['onnx'] or row['local'] or 'missing'}\n"
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
    from facerec.models.embedders import is_builtin
    from facerec.models.embedders.custom import custom_model_path
    from facerec.models.weights import Weights, resolve_weights

    if isinstance(weights, Weights) and not is_builtin(weights.model):
        path = custom_model_path(weights.model)
        return str(path) if path.is_file() else None
    try:
        return str(resolve_weights(weights, download=False))
    except WeightsHashError:
        return "refused: a file with another sha256 is in its place"
    except WeightsNotFoundError:
        return None
