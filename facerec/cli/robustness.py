"""``facerec robustness``: FGSM and PGD against verification, with and without a defence."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

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
    import json

    import numpy as np
    from platformdirs import user_cache_dir

    from facerec.device import resolve_device
    from facerec.evaluation.pairs import read_pairs
    from facerec.robustness.clean import clean_embeddings
    from facerec.robustness.crops import crop_pairs, merge_crops
    from facerec.robustness.defence import InputDefence, JpegDefence, ResizePadDefence
    from facerec.robustness.experiment import ExperimentConfig, choose_thresholds, run_experiment
    from facerec.robustness.report import format_summary, format_table, save_curves, save_examples

    eps = _numbers(eps_text, "--eps")
    if any(not 0 <= e <= 255 for e in eps):
        raise click.BadParameter("eps is in pixel levels and must lie in [0, 255]", param_hint="--eps")
    pairs = read_pairs(pairs_file, root)
    all_folds = sorted({p.fold for p in pairs})
    attacked = _attacked_folds(all_folds, folds_text)
    def say(message: str) -> None:
        if not (as_json or quiet) and (verbose or not message.startswith("row ")):
            click.echo(message, err=True)

    target = resolve_device(device)
    recognizer = make_recognizer(model, tag, weights, no_flip)
    recognizer.model.to(target)  # clean embeddings and attacks both run there
    flip = not no_flip
    cache = Path(cache_dir) if cache_dir else Path(user_cache_dir("facerec")) / "robustness"
    test = np.array([p.fold in attacked for p in pairs])
    threshold_folds = ", ".join(str(f + 1) for f in all_folds if f not in attacked)
    # Most of a small run's time goes here: the thresholds need clean scores of every pair of the other folds.
    say(f"aligning the photos of {len(pairs)} pairs: {int(test.sum())} of the attacked folds, {int((~test).sum())} "
        f"of folds {threshold_folds} that fix the thresholds (cached in {cache}, so later runs skip it)")
    prepare_started = time.perf_counter()
    # cached separately, so attacking another fold set reuses the threshold folds' crops
    crops = merge_crops(*(crop_pairs(recognizer, [p for p, t in zip(pairs, test) if t == side], cache_dir=cache,
                                     select=select, progress=not (as_json or quiet)) for side in (True, False)))
    first, second = crops.pair_indices(pairs)
    same = np.array([p.same for p in pairs])
    chosen = [d for d in dict.fromkeys(defences) if d != "none"]
    made: dict[str, Callable[[], InputDefence]] = {"jpeg": lambda: JpegDefence(jpeg_quality),
                                                   "resize": lambda: ResizePadDefence(resize_min, seed)}
    defence_list = tuple(made[name]() for name in chosen)

    thresholds, clean_accuracy = {}, {}
    for name, defence in [("plain", None), *[(d.name, d) for d in defence_list]]:
        say(f"clean embeddings of {len(crops.crops)} crops for the thresholds: {name}")
        vectors = clean_embeddings(recognizer.model, crops.crops, defence=defence, flip=flip, cache_dir=cache)
        scores = (vectors[first] * vectors[second]).sum(1).astype(np.float64)
        thresholds[name] = choose_thresholds(scores[~test], same[~test])
        clean_accuracy[name] = float(np.mean((scores[test] >= thresholds[name].accuracy) == same[test]))

    prepare_seconds = time.perf_counter() - prepare_started
    index = _attacked_pairs(test, same, subset, seed)
    say(f"thresholds fixed in {prepare_seconds:.0f} s; attacking {len(index)} pairs")
    config = ExperimentConfig(attacks=("fgsm", "pgd") if attack == "both" else (attack,), eps=eps, steps=steps,
                              eot=eot, batch_size=batch_size, seed=seed)
    started = time.perf_counter()
    rows, examples = run_experiment(recognizer.model, crops.crops[first[index]], crops.crops[second[index]],
                                    same[index], thresholds, config, defences=defence_list, flip=flip, device=target,
                                    log=say)
    seconds = time.perf_counter() - started
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_curves(rows, out / "robustness.png")
    save_examples(examples, out / "examples.png")
    result = {
        "model": recognizer.model_key, "flip": flip, "attacked_folds": sorted(f + 1 for f in attacked),
        "threshold_folds": [f + 1 for f in all_folds if f not in attacked],
        "attacked_input": "aligned crop (after detection and alignment)",
        "fold_pairs": int(test.sum()), "attacked_pairs": len(index), "subset_per_class": subset,
        "images_without_detected_face": int((~crops.detected).sum()),
        "clean_fold_accuracy": clean_accuracy,
        "thresholds": {k: {"accuracy": v.accuracy, "far_1e-3": v.far_1e3} for k, v in thresholds.items()},
        "config": {"eps": list(eps), "steps": steps, "eot": eot, "seed": seed, "quantized_to_8_bits": True,
                   "defences": [repr(d) for d in defence_list]},
        "device": str(target), "attack_seconds": round(seconds, 1), "prepare_seconds": round(prepare_seconds, 1),
        "rows": [r.to_dict() for r in rows],
        "curve_png": str(out / "robustness.png"), "examples_png": str(out / "examples.png"),
    }
    (out / "robustness.json").write_text(json.dumps(result, indent=2))
    if as_json:
        emit(result)
        return
    for name, acc in clean_accuracy.items():
        t = thresholds[name]
        click.echo(f"clean accuracy on the attacked folds ({int(test.sum())} pairs), {name}: {acc:.2%} "
                   f"(threshold {t.accuracy:.4f}; FAR=1e-3 threshold {t.far_1e3:.4f}, from the other folds)")
    click.echo(format_summary(rows))
    click.echo()
    click.echo(format_table(rows))
    click.echo(f"attacks took {seconds:.0f} s on {target}, after {prepare_seconds:.0f} s aligning and embedding "
               f"the clean pairs that fix the thresholds (cached for later runs); curve {out / 'robustness.png'}, "
               f"examples {out / 'examples.png'}")


def _attacked_folds(all_folds: list[int], folds_text: str | None) -> set[int]:
    """The folds to attack (0-based): those of ``--folds``, else the last; at least one fold stays clean."""
    attacked = {int(f) - 1 for f in _numbers(folds_text, "--folds")} if folds_text else {all_folds[-1]}
    if not attacked <= set(all_folds) or attacked == set(all_folds):
        raise click.BadParameter(f"choose attacked folds among 1..{len(all_folds)}, leaving at least one "
                                 "fold to fix the threshold", param_hint="--folds")
    return attacked


def _attacked_pairs(test, same, subset: int, seed: int):  # noqa: ANN001, ANN202 - numpy arrays
    """Indices of the attacked folds' pairs: all, or ``subset`` genuine and ``subset`` impostor pairs (seeded)."""
    import numpy as np

    index = np.nonzero(test)[0]
    if not subset:
        return index
    rng = np.random.default_rng(seed)
    genuine, impostor = index[same[index]], index[~same[index]]
    return np.sort(np.r_[rng.choice(genuine, min(subset, len(genuine)), replace=False),
                         rng.choice(impostor, min(subset, len(impostor)), replace=False)])


COMMAND = robustness_command
