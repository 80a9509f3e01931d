"""Held-out evaluation run after each training epoch: a pairs file, or one-shot identification.

Both embed cached aligned crops with the model being trained (flip test-time augmentation
as at inference) and return a flat ``{metric: value}`` dict for the epoch log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from facerec.alignment import Alignment
from facerec.evaluation.metrics import best_threshold, fold_accuracy, roc_curve, tar_at_far
from facerec.evaluation.pairs import read_pairs
from facerec.models.embedders.embedder import FaceEmbedder
from facerec.train.data import FaceFolder, Fallback, load_crops

__all__ = ["Evaluator", "PairsEvaluator", "OneShotEvaluator", "one_shot_rank1", "pair_metrics"]


class Evaluator(Protocol):
    def __call__(self, model: FaceEmbedder) -> dict[str, float]: ...


def one_shot_rank1(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Closed-set rank-1 accuracy with one enrolled photo per person, averaged over every choice.

    For ``j = 0 .. min photos - 1`` the ``j``-th photo of each person is enrolled and every
    other photo is a probe matched to the most similar enrolled face (cosine).
    """
    labels = np.asarray(labels)
    people = np.unique(labels)
    indices = [np.nonzero(labels == person)[0] for person in people]
    shots = min(len(i) for i in indices)
    scores = []
    for j in range(shots):
        enrolled = np.array([i[j] for i in indices])
        probes = np.setdiff1d(np.arange(len(labels)), enrolled)
        best = np.argmax(vectors[probes] @ vectors[enrolled].T, axis=1)
        scores.append(float((people[best] == labels[probes]).mean()))
    return float(np.mean(scores))


def pair_metrics(scores: np.ndarray, same: np.ndarray, folds: np.ndarray, test_fold: int | None) -> dict[str, float]:
    """LFW-protocol accuracy (each fold's threshold from the others) and TAR@FAR=1e-3.

    With ``test_fold`` the threshold is chosen on the other folds only and applied to
    ``test_fold`` (``test_accuracy``); ``test_tar@far1e-3`` is the ROC of that fold alone.
    """
    out = {
        "pairs_accuracy": float(np.mean([r.accuracy for r in fold_accuracy(scores, same, folds)])),
        "pairs_tar@far1e-3": tar_at_far(roc_curve(scores, same), 1e-3),
    }
    if test_fold is not None:
        test = folds == test_fold
        threshold = best_threshold(scores[~test], same[~test])
        out["test_threshold"] = threshold
        out["test_accuracy"] = float(((scores[test] >= threshold) == same[test]).mean())
        out["test_tar@far1e-3"] = tar_at_far(roc_curve(scores[test], same[test]), 1e-3)
    return out


class PairsEvaluator:
    """Verification on an LFW-style pairs file; crops are aligned once and cached."""

    def __init__(
        self, pairs_file: str | Path, root: str | Path, alignment: Alignment, *, cache_dir: str | Path | None = None,
        test_fold: int | None = None, pad: float = 0.0, fallback: Fallback = "center",
    ) -> None:
        pairs = read_pairs(pairs_file, root)
        images = sorted({p for pair in pairs for p in (pair.a, pair.b)})
        where = {path: i for i, path in enumerate(images)}
        self.crops, _ = load_crops(images, alignment, cache_dir=cache_dir, pad=pad, fallback=fallback)
        self.a = np.array([where[pair.a] for pair in pairs])
        self.b = np.array([where[pair.b] for pair in pairs])
        self.same = np.array([pair.same for pair in pairs])
        self.folds = np.array([pair.fold for pair in pairs])
        self.test_fold = test_fold

    def embeddings(self, model: FaceEmbedder) -> np.ndarray:
        return model.embed(self.crops, flip=True)

    def __call__(self, model: FaceEmbedder) -> dict[str, float]:
        vectors = self.embeddings(model)
        scores = np.sum(vectors[self.a] * vectors[self.b], axis=1)
        return pair_metrics(scores, self.same, self.folds, self.test_fold)


class OneShotEvaluator:
    """One-shot identification rank-1 on held-out people (see :func:`one_shot_rank1`)."""

    def __init__(self, faces: FaceFolder) -> None:
        self.faces = faces

    def __call__(self, model: FaceEmbedder) -> dict[str, float]:
        vectors = model.embed(self.faces.crops, flip=True)
        return {"oneshot_rank1": one_shot_rank1(vectors, self.faces.labels)}
