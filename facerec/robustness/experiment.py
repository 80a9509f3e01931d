"""The robustness experiment: attack a set of pairs at each eps, score them, tabulate.

Thresholds are fixed beforehand from clean scores of *other* pairs (:func:`choose_thresholds`),
so an attack is judged at the operating point the system would really use.
Each row reports one (pipeline, attacker, attack, eps, setting):

* ``pipeline`` ``plain`` or a defence name; ``attacker`` ``white-box`` (knows the plain model),
  ``transfer`` (the white-box examples fed through the defence) or ``adaptive`` (knows the
  defence: BPDA for JPEG, EOT for random resize);
* ``accuracy``: verification accuracy on the pairs with the attacked class perturbed and the other
  class clean; ``attacked_accuracy`` on the attacked class alone;
* ``success_rate``: the share of attacked pairs, correct before, whose decision flipped;
* ``rate_at_far_1e3``: TAR (dodging) or FAR (impersonation) at the clean FAR=1e-3 threshold;
* ``linf``: mean L-inf perturbation in pixel levels (1/255); ``l2``: mean L2 norm on the [0, 1] scale.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from facerec.evaluation.metrics import best_threshold, roc_curve, threshold_at_far
from facerec.models.embedders.embedder import FaceEmbedder
from facerec.robustness.attacks import EmbedFn, Setting, fgsm, pgd, pipeline_embedder
from facerec.robustness.defence import InputDefence

__all__ = ["Thresholds", "choose_thresholds", "ExperimentConfig", "ResultRow", "Example", "run_experiment"]


@dataclass(frozen=True)
class Thresholds:
    """Similarity thresholds of one pipeline: best accuracy, and false accept rate 1e-3."""

    accuracy: float
    far_1e3: float


def choose_thresholds(scores: np.ndarray, same: np.ndarray) -> Thresholds:
    return Thresholds(best_threshold(scores, same), threshold_at_far(roc_curve(scores, same), 1e-3))


@dataclass(frozen=True)
class ExperimentConfig:
    attacks: tuple[str, ...] = ("fgsm", "pgd")
    eps: tuple[float, ...] = (1, 2, 4, 8)
    steps: int = 10
    eot: int = 4  # random draws per step for an adaptive attack on a random defence
    batch_size: int = 50
    seed: int = 0
    quantize: bool = True  # round adversarial crops to 8 bits, as a saved image would be


@dataclass(frozen=True)
class ResultRow:
    pipeline: str
    attacker: str
    attack: str
    eps: float
    setting: str
    pairs: int
    accuracy: float
    attacked_accuracy: float
    success_rate: float
    rate_at_far_1e3: float
    linf: float
    l2: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Example:
    """One attacked crop, for the side-by-side picture (float ``3 x S x S``)."""

    setting: str
    attack: str
    eps: float
    clean: np.ndarray = field(repr=False)
    adversarial: np.ndarray = field(repr=False)
    clean_score: float = 0.0
    adversarial_score: float = 0.0


def run_experiment(
    model: FaceEmbedder,
    crops_a: np.ndarray,
    crops_b: np.ndarray,
    same: np.ndarray,
    thresholds: dict[str, Thresholds],
    config: ExperimentConfig,
    *,
    defences: tuple[InputDefence, ...] = (),
    flip: bool = True,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] = lambda message: None,
) -> tuple[list[ResultRow], list[Example]]:
    """Attack the first photo of each pair; ``thresholds`` has ``plain`` and each defence's name.

    Crops stay on the CPU; each batch is attacked and embedded on ``device``.
    """
    same = np.asarray(same, dtype=bool)
    model.to(device)
    embed = _on(pipeline_embedder(model, flip=flip), torch.device(device))
    xa, xb = _pixels(crops_a), _pixels(crops_b)
    views: dict[str, Callable[[Tensor], Tensor]] = {"plain": lambda x: x}
    for defence in defences:
        views[defence.name] = _seeded(defence, config.seed)
    targets = {name: _embed(embed, view(xb), config.batch_size) for name, view in views.items()}
    clean = {name: _scores(embed, view(xa), targets[name], config.batch_size) for name, view in views.items()}
    rows: list[ResultRow] = []
    examples: list[Example] = []

    def add(row: ResultRow) -> None:
        rows.append(row)
        log("row " + json.dumps(row.to_dict()))  # partial results survive an interrupted run

    settings: tuple[tuple[Setting, np.ndarray], ...] = (("dodging", np.nonzero(same)[0]),
                                                        ("impersonation", np.nonzero(~same)[0]))
    for setting, index in settings:
        for name in views:
            add(_row(name, "none", "clean", 0, setting, clean[name], clean[name][index], same, index,
                     thresholds[name], np.zeros((len(index), 2))))
    # cheap attacks and small eps first, both settings at each, so a cut-short run is still useful
    for attack in config.attacks:
        label = "fgsm" if attack == "fgsm" else f"pgd-{config.steps}"
        for eps in config.eps:
            for setting, index in settings:
                log(f"{label} eps {eps:g} {setting}: white-box")
                adv = _attack(embed, attack, xa[index], targets["plain"][index], eps, setting, config)
                norms = _norms(adv, xa[index])
                score = _scores(embed, adv, targets["plain"][index], config.batch_size)
                add(_row("plain", "white-box", label, eps, setting, clean["plain"], score, same, index,
                         thresholds["plain"], norms))
                if eps == max(config.eps):
                    examples.append(Example(setting, label, eps, xa[index[0]].numpy(), adv[0].numpy(),
                                            float(clean["plain"][index[0]]), float(score[0])))
                for defence in defences:
                    view = views[defence.name]
                    target = targets[defence.name][index]
                    score = _scores(embed, view(adv), target, config.batch_size)
                    add(_row(defence.name, "transfer", label, eps, setting, clean[defence.name], score, same,
                             index, thresholds[defence.name], norms))
                    log(f"{label} eps {eps:g} {setting}: adaptive vs {defence.name}")
                    adaptive = _attack(_adaptive(embed, defence, config), attack, xa[index], target, eps, setting,
                                       config)
                    score = _scores(embed, view(adaptive), target, config.batch_size)
                    add(_row(defence.name, "adaptive", label, eps, setting, clean[defence.name], score, same,
                             index, thresholds[defence.name], _norms(adaptive, xa[index])))
    return rows, examples


def _on(embed: EmbedFn, device: torch.device) -> EmbedFn:
    """``embed`` run on ``device`` for CPU batches; the result comes back where the input was."""
    if device.type == "cpu":
        return embed
    return lambda pixels: embed(pixels.to(device)).to(pixels.device)


def _pixels(crops: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 255.0


def _seeded(defence: InputDefence, seed: int) -> Callable[[Tensor], Tensor]:
    """The defence as deployed: a random one draws from a generator seeded once per call."""
    return lambda x: defence.transform(x, generator=torch.Generator().manual_seed(seed + 1))


def _adaptive(embed: EmbedFn, defence: InputDefence, config: ExperimentConfig) -> EmbedFn:
    """The attacker's model of the defended pipeline (BPDA, or the EOT mean over random draws)."""
    generator = torch.Generator().manual_seed(config.seed + 2)
    draws = config.eot if defence.name == "resize" else 1

    def defended(pixels: Tensor) -> Tensor:
        # the loss is linear in the embedding, so the mean embedding gives the mean gradient
        return torch.stack([embed(defence.attack_view(pixels, generator=generator)) for _ in range(draws)]).mean(0)

    return defended


def _attack(embed: EmbedFn, attack: str, images: Tensor, targets: Tensor, eps: float, setting: Setting,
            config: ExperimentConfig) -> Tensor:
    generator = torch.Generator().manual_seed(config.seed)
    parts = []
    for start in range(0, len(images), config.batch_size):
        x, t = images[start : start + config.batch_size], targets[start : start + config.batch_size]
        if attack == "fgsm":
            parts.append(fgsm(embed, x, t, eps=eps, setting=setting))
        else:
            parts.append(pgd(embed, x, t, eps=eps, setting=setting, steps=config.steps, generator=generator))
    adv = torch.cat(parts)
    return (adv * 255).round() / 255 if config.quantize else adv


def _embed(embed: EmbedFn, pixels: Tensor, batch_size: int) -> Tensor:
    with torch.inference_mode():
        return torch.cat([embed(pixels[s : s + batch_size]) for s in range(0, len(pixels), batch_size)])


def _scores(embed: EmbedFn, pixels: Tensor, targets: Tensor, batch_size: int) -> np.ndarray:
    return (_embed(embed, pixels, batch_size) * targets).sum(1).numpy().astype(np.float64)


def _norms(adv: Tensor, clean: Tensor) -> np.ndarray:
    delta = (adv - clean).flatten(1)
    return torch.stack([delta.abs().max(1).values * 255, delta.norm(dim=1)], 1).numpy()


def _row(pipeline: str, attacker: str, attack: str, eps: float, setting: str, clean: np.ndarray,
         attacked: np.ndarray, same: np.ndarray, index: np.ndarray, thresholds: Thresholds,
         norms: np.ndarray) -> ResultRow:
    genuine = setting == "dodging"
    scores = clean.copy()
    scores[index] = attacked
    before = (clean[index] >= thresholds.accuracy) == genuine
    after = (attacked >= thresholds.accuracy) == genuine
    return ResultRow(
        pipeline=pipeline, attacker=attacker, attack=attack, eps=float(eps), setting=setting, pairs=len(index),
        accuracy=float(np.mean((scores >= thresholds.accuracy) == same)),
        attacked_accuracy=float(after.mean()),
        success_rate=float((before & ~after).sum() / max(1, before.sum())),
        rate_at_far_1e3=float(np.mean(attacked >= thresholds.far_1e3)),
        linf=float(norms[:, 0].mean()), l2=float(norms[:, 1].mean()),
    )
