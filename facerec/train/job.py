"""One training run as values and a function: what to train (:class:`~facerec.train.trainer.TrainConfig`),
on which photos and measured how (:class:`TrainData`), and :func:`run_training`, which ``facerec train`` calls.

>>> data = TrainData(roots=("att_faces",), people=tuple(f"s{i}" for i in range(1, 31)))  # doctest: +SKIP
>>> summary = run_training(TrainConfig(backbone="resnet18", out_dir="runs/r18"), data)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from facerec.errors import FaceRecError
from facerec.train.trainer import TrainConfig

__all__ = ["TrainData", "run_training"]


@dataclass(frozen=True)
class TrainData:
    """Folder-per-person training photos (``people`` picks among the first root's), people left out for a
    pairs fold, and the evaluation sets: a pairs file (``test_fold`` 1-based) and a one-shot folder."""

    roots: tuple[str, ...]
    people: tuple[str, ...] | None = None
    max_per_person: int | None = None
    exclude_pairs_fold: int | None = None
    pairs: str | None = None
    pairs_root: str | None = None
    test_fold: int | None = None
    oneshot: str | None = None
    oneshot_people: tuple[str, ...] | None = None
    detector: str | None = None
    pad: float = 0.0
    fallback: str | None = "center"
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.pairs and not self.pairs_root:
            raise FaceRecError("a pairs file needs the folder its photos are in", hint="--pairs-root")
        if self.exclude_pairs_fold is not None and not self.pairs:
            raise FaceRecError("leaving out a pairs fold's people needs the pairs file", hint="--pairs")


def run_training(config: TrainConfig, data: TrainData, *, resume: bool = False, progress: bool = False,
                 log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Align the photos (cached), train, and return the summary: where the model is, the photos and people
    trained on, and the first and last evaluation records."""
    import torch
    from platformdirs import user_cache_dir

    from facerec.models.detectors import DEFAULT_DETECTOR, get_detector
    from facerec.train.data import FaceFolder, load_face_folder, select_people
    from facerec.train.evaluate import OneShotEvaluator, PairsEvaluator
    from facerec.train.trainer import build_backbone, train

    torch.manual_seed(config.seed)
    model = build_backbone(config)
    alignment = model.weights.alignment
    cache = data.cache_dir or str(Path(user_cache_dir("facerec")) / "faces")
    common: dict[str, Any] = {"cache_dir": cache, "pad": data.pad, "fallback": data.fallback, "progress": progress,
              "detector": get_detector(data.detector or DEFAULT_DETECTOR)}
    excluded = set() if data.exclude_pairs_fold is None else _fold_people(data, data.exclude_pairs_fold)
    parts = [
        load_face_folder(root, alignment, max_per_person=data.max_per_person, **common, people=select_people(
            root, include=list(data.people) if data.people and i == 0 else None, exclude=excluded, min_images=2))
        for i, root in enumerate(data.roots)
    ]
    photos = FaceFolder.concat(parts) if len(parts) > 1 else parts[0]
    evaluators: list[PairsEvaluator | OneShotEvaluator] = []
    if data.pairs and data.pairs_root:
        test_fold = None if data.test_fold is None else data.test_fold - 1
        evaluators.append(PairsEvaluator(data.pairs, data.pairs_root, alignment, cache_dir=cache, test_fold=test_fold))
    if data.oneshot:
        held_out = load_face_folder(data.oneshot, alignment,
                                    people=list(data.oneshot_people) if data.oneshot_people else None, **common)
        overlap = set(held_out.people) & set(photos.people)
        if overlap and Path(data.oneshot).resolve() in {Path(r).resolve() for r in data.roots}:
            raise FaceRecError(f"{len(overlap)} one-shot people are also trained on", hint="--oneshot")
        evaluators.append(OneShotEvaluator(held_out))
    photos = photos.with_min_images(2)
    log(f"training {config.backbone} on {len(photos)} photos of {len(photos.people)} people "
        f"({int(photos.detected.sum())} with a detected face)")
    history = train(config, model, photos, evaluators=evaluators, resume=resume, progress=progress)
    return {"out": config.out_dir, "model": str(Path(config.out_dir) / "model.pt"), "backbone": config.backbone,
            "images": len(photos), "people": len(photos.people), "before": history[0], "after": history[-1]}


def _fold_people(data: TrainData, fold: int) -> set[str]:
    """The people of a pairs fold (1-based)."""
    from facerec.evaluation.pairs import read_pairs

    pairs = read_pairs(str(data.pairs), str(data.pairs_root))
    return {path.parent.name for pair in pairs if pair.fold == fold - 1 for path in (pair.a, pair.b)}
