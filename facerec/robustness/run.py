"""One robustness study as a value and a function: :class:`RobustnessConfig` and :func:`run_robustness`.

``facerec robustness`` builds the config from its options and prints what :func:`run_robustness` returns;
the same study runs from Python:

>>> config = RobustnessConfig(pairs_file="pairs.txt", root="lfw/", attacks=("fgsm",), eps=(8.0,))  # doctest: +SKIP
>>> result = run_robustness(config, FaceRecognizer(backend="torch"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from facerec.errors import FaceRecError

if TYPE_CHECKING:
    from facerec.recognizer import FaceRecognizer
    from facerec.robustness.experiment import ResultRow

__all__ = ["RobustnessConfig", "RobustnessReport", "attacked_folds", "attacked_pairs", "run_robustness"]


@dataclass(frozen=True)
class RobustnessConfig:
    """What to attack and how: the pairs, the attacked folds (0-based; default the last), the radii in pixel
    levels, the defences by name (``jpeg``, ``resize``), and where the crops are cached and results written."""

    pairs_file: str
    root: str
    attacks: tuple[str, ...] = ("fgsm", "pgd")
    eps: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    steps: int = 10
    folds: tuple[int, ...] | None = None
    subset: int = 50
    defences: tuple[str, ...] = ("jpeg",)
    jpeg_quality: int = 75
    resize_min: int = 100
    eot: int = 4
    seed: int = 0
    batch_size: int = 50
    select: str = "center"
    cache_dir: Path | None = None  # default: the user cache
    device: str = "auto"
    out_dir: Path = Path("robustness")

    def __post_init__(self) -> None:
        if any(not 0 <= e <= 255 for e in self.eps):
            raise FaceRecError("eps is in pixel levels and must lie in [0, 255]")


@dataclass(frozen=True)
class RobustnessReport:
    """The measured rows, and everything the study wrote to ``robustness.json`` (``summary``)."""

    rows: list[ResultRow]
    summary: dict[str, Any]


def run_robustness(config: RobustnessConfig, recognizer: FaceRecognizer,
                   log: Callable[[str], None] = lambda message: None, *, progress: bool = False) -> RobustnessReport:
    """Attack the aligned crops of the attacked folds' pairs with FGSM/PGD (dodging and impersonation) at
    thresholds fixed on the other folds' clean scores, with and without each defence; write the curve, the
    example images and the JSON under ``config.out_dir``."""
    from facerec.device import resolve_device
    from facerec.evaluation.pairs import read_pairs
    from facerec.robustness.clean import clean_embeddings
    from facerec.robustness.crops import crop_pairs, merge_crops
    from facerec.robustness.defence import get_defence
    from facerec.robustness.experiment import ExperimentConfig, choose_thresholds, run_experiment
    from facerec.robustness.report import save_curves, save_examples

    pairs = read_pairs(config.pairs_file, config.root)
    all_folds = sorted({p.fold for p in pairs})
    attacked = attacked_folds(all_folds, config.folds)
    target = resolve_device(config.device)
    recognizer.model.to(target)  # clean embeddings and attacks both run there
    flip = recognizer.flip
    from platformdirs import user_cache_dir

    cache = Path(config.cache_dir) if config.cache_dir else Path(user_cache_dir("facerec")) / "robustness"
    test = np.array([p.fold in attacked for p in pairs])
    threshold_folds = ", ".join(str(f + 1) for f in all_folds if f not in attacked)
    # Most of a small run's time goes here: the thresholds need clean scores of every pair of the other folds.
    log(f"aligning the photos of {len(pairs)} pairs: {int(test.sum())} of the attacked folds, {int((~test).sum())} "
        f"of folds {threshold_folds} that fix the thresholds (cached in {cache}, so later runs skip it)")
    prepare_started = time.perf_counter()
    # cached separately, so attacking another fold set reuses the threshold folds' crops
    crops = merge_crops(*(crop_pairs(recognizer, [p for p, t in zip(pairs, test) if t == side], cache_dir=cache,
                                     select=config.select, progress=progress) for side in (True, False)))
    first, second = crops.pair_indices(pairs)
    same = np.array([p.same for p in pairs])
    options: dict[str, dict[str, int | float]] = {"jpeg": {"quality": config.jpeg_quality},
                                                  "resize": {"min_size": config.resize_min, "seed": config.seed}}
    defence_list = tuple(get_defence(name, **options.get(name, {})) for name in dict.fromkeys(config.defences)
                         if name != "none")

    thresholds, clean_accuracy = {}, {}
    for name, defence in [("plain", None), *[(d.name, d) for d in defence_list]]:
        log(f"clean embeddings of {len(crops.crops)} crops for the thresholds: {name}")
        vectors = clean_embeddings(recognizer.model, crops.crops, defence=defence, flip=flip, cache_dir=cache)
        scores = (vectors[first] * vectors[second]).sum(1).astype(np.float64)
        thresholds[name] = choose_thresholds(scores[~test], same[~test])
        clean_accuracy[name] = float(np.mean((scores[test] >= thresholds[name].accuracy) == same[test]))
    prepare_seconds = time.perf_counter() - prepare_started

    index = attacked_pairs(test, same, config.subset, config.seed)
    log(f"thresholds fixed in {prepare_seconds:.0f} s; attacking {len(index)} pairs")
    experiment = ExperimentConfig(attacks=config.attacks, eps=config.eps, steps=config.steps, eot=config.eot,
                                  batch_size=config.batch_size, seed=config.seed)
    started = time.perf_counter()
    rows, examples = run_experiment(recognizer.model, crops.crops[first[index]], crops.crops[second[index]],
                                    same[index], thresholds, experiment, defences=defence_list, flip=flip,
                                    device=target, log=log)
    seconds = time.perf_counter() - started
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_curves(rows, out / "robustness.png")
    save_examples(examples, out / "examples.png")
    result = {
        "model": recognizer.model_key, "flip": flip, "attacked_folds": sorted(f + 1 for f in attacked),
        "threshold_folds": [f + 1 for f in all_folds if f not in attacked],
        "attacked_input": "aligned crop (after detection and alignment)",
        "fold_pairs": int(test.sum()), "attacked_pairs": len(index), "subset_per_class": config.subset,
        "images_without_detected_face": int((~crops.detected).sum()),
        "clean_fold_accuracy": clean_accuracy,
        "thresholds": {k: {"accuracy": v.accuracy, "far_1e-3": v.far_1e3} for k, v in thresholds.items()},
        "config": {"eps": list(config.eps), "steps": config.steps, "eot": config.eot, "seed": config.seed,
                   "quantized_to_8_bits": True, "defences": [repr(d) for d in defence_list]},
        "device": str(target), "attack_seconds": round(seconds, 1), "prepare_seconds": round(prepare_seconds, 1),
        "rows": [r.to_dict() for r in rows],
        "curve_png": str(out / "robustness.png"), "examples_png": str(out / "examples.png"),
    }
    (out / "robustness.json").write_text(json.dumps(result, indent=2))
    return RobustnessReport(list(rows), result)


def attacked_folds(all_folds: list[int], folds: tuple[int, ...] | None) -> set[int]:
    """The folds to attack (0-based): ``folds``, else the last; at least one fold stays clean."""
    attacked = set(folds) if folds else {all_folds[-1]}
    if not attacked <= set(all_folds) or attacked == set(all_folds):
        raise FaceRecError(f"choose attacked folds among 1..{len(all_folds)}, leaving at least one fold to fix "
                           "the threshold", hint="--folds")
    return attacked


def attacked_pairs(test: np.ndarray, same: np.ndarray, subset: int, seed: int) -> np.ndarray:
    """Indices of the attacked folds' pairs: all, or ``subset`` genuine and ``subset`` impostor pairs (seeded)."""
    index = np.nonzero(test)[0]
    if not subset:
        return index
    rng = np.random.default_rng(seed)
    genuine, impostor = index[same[index]], index[~same[index]]
    return np.sort(np.r_[rng.choice(genuine, min(subset, len(genuine)), replace=False),
                         rng.choice(impostor, min(subset, len(impostor)), replace=False)])
