"""``facerec robustness``: FGSM and PGD against verification, with and without a defence."""

from __future__ import annotations

from pathlib import Path

import click

from facerec.cli.common import CONTEXT, QUIET, emit, make_recognizer, model_options

__all__ = ["COMMAND", "robustness_command"]


def _numbers(value: str, name: str) -> tuple[float, ...]:
    try:
        numbers = tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {value!r}", param_hint=name) from None
    if not numbers:
        raise click.BadParameter("give at least one value", param_hint=name)
    return numbers


@click.command("robustness", context_settings=CONTEXT)
@click.option("--pairs", "pairs_file", required=True, type=click.Path(), help="A file in LFW pairs.txt format.")
@click.option("--root", required=True, type=click.Path(), help="Folder holding Name/Name_NNNN.jpg.")
@model_options
@click.option("--attack", type=click.Choice(["fgsm", "pgd", "both"]), default="both", show_default=True,
              help="Which attack to run.")
@click.option("--eps", "eps_text", default="1,2,4,8", show_default=True,
              help="L-inf radii in pixel levels (units of 1/255), comma-separated.")
@click.option("--steps", type=click.IntRange(1, 1000), default=10, show_default=True, help="PGD steps.")
@click.option("--folds", "folds_text", default=None,
              help="Attacked folds, 1-based, comma-separated (default: the last); thresholds come from the others.")
@click.option("--subset", type=click.IntRange(0), default=50, show_default=True,
              help="Attack this many genuine and this many impostor pairs, drawn with --seed (0: all).")
@click.option("--defence", "defences", type=click.Choice(["jpeg", "resize", "none"]), multiple=True,
              default=("jpeg",), show_default=True, help="Defence(s) to measure, repeatable; 'none' for none.")
@click.option("--jpeg-quality", type=click.IntRange(1, 95), default=75, show_default=True,
              help="JPEG quality of the jpeg defence.")
@click.option("--resize-min", type=click.IntRange(8), default=100, show_default=True,
              help="Smallest side of the resize defence.")
@click.option("--eot", type=click.IntRange(1), default=4, show_default=True,
              help="Random draws per step of the adaptive attack on the resize defence (EOT).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the subset, random starts, defence.")
@click.option("--batch-size", type=click.IntRange(1), default=50, show_default=True, help="Crops per attack batch.")
@click.option("--select", type=click.Choice(["center", "largest"]), default="center", show_default=True,
              help="Which face to use when a photo has several.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Cache of aligned crops and clean embeddings (default: the user cache).")
@click.option("--device", default="auto", show_default=True,
              help="Where to run the attacks: auto (CUDA when present), cpu or cuda.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="robustness", show_default=True,
              help="Folder for the curve PNG, example images and JSON.")
@QUIET
@click.option("--verbose", is_flag=True, help="Also print each result row as JSON as soon as it is measured.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def robustness_command(pairs_file: str, root: str, model: str, tag: str | None, weights: str | None, no_flip: bool,
                       attack: str, eps_text: str, steps: int, folds_text: str | None, subset: int,
                       defences: tuple[str, ...], jpeg_quality: int, resize_min: int, eot: int, seed: int,
                       batch_size: int, select: str, cache_dir: str | None, device: str, out_dir: str,
                       quiet: bool, verbose: bool, as_json: bool) -> None:
    """Attack the aligned 112x112 crops of the attacked folds' pairs with FGSM/PGD (dodging and
    impersonation) at a threshold fixed on the other folds' clean scores; report accuracy, TAR/FAR
    at the FAR=1e-3 threshold, attack success and perturbation norms, with and without a defence.
    The perturbation is applied after detection and alignment, not pushed back through them."""
    from facerec.robustness.report import format_summary, format_table
    from facerec.robustness.run import RobustnessConfig, run_robustness

    eps = _numbers(eps_text, "--eps")
    if any(not 0 <= e <= 255 for e in eps):
        raise click.BadParameter("eps is in pixel levels and must lie in [0, 255]", param_hint="--eps")
    config = RobustnessConfig(
        pairs_file=pairs_file, root=root, attacks=("fgsm", "pgd") if attack == "both" else (attack,), eps=eps,
        steps=steps,
        folds=tuple(int(f) - 1 for f in _numbers(folds_text, "--folds")) if folds_text else None, subset=subset,
        defences=defences, jpeg_quality=jpeg_quality, resize_min=resize_min, eot=eot, seed=seed,
        batch_size=batch_size, select=select, cache_dir=Path(cache_dir) if cache_dir else None, device=device,
        out_dir=Path(out_dir))

    def say(message: str) -> None:
        if not (as_json or quiet) and (verbose or not message.startswith("row ")):
            click.echo(message, err=True)

    recognizer = make_recognizer(model, tag, weights, no_flip)
    report = run_robustness(config, recognizer, say, progress=not (as_json or quiet))
    result = report.summary
    if as_json:
        emit(result)
        return
    for name, accuracy in result["clean_fold_accuracy"].items():
        chosen = result["thresholds"][name]
        click.echo(f"clean accuracy on the attacked folds ({result['fold_pairs']} pairs), {name}: {accuracy:.2%} "
                   f"(threshold {chosen['accuracy']:.4f}; FAR=1e-3 threshold {chosen['far_1e-3']:.4f}, from the "
                   "other folds)")
    click.echo(format_summary(report.rows))
    click.echo()
    click.echo(format_table(report.rows))
    click.echo(f"attacks took {result['attack_seconds']:.0f} s on {result['device']}, after "
               f"{result['prepare_seconds']:.0f} s aligning and embedding the clean pairs that fix the thresholds "
               f"(cached for later runs); curve {result['curve_png']}, examples {result['examples_png']}")


COMMAND = robustness_command
