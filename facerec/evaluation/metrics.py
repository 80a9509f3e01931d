"""Verification metrics on similarity scores: ROC, AUC, EER, TAR at a FAR, and the
k-fold accuracy of the LFW protocol where each fold's threshold comes from the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Roc", "roc_curve", "tar_at_far", "threshold_at_far", "best_threshold", "fold_accuracy", "FoldResult",
    "person_balanced_weights",
]


@dataclass(frozen=True)
class Roc:
    """False and true accept rates at each distinct threshold, highest threshold first."""

    far: np.ndarray
    tar: np.ndarray
    thresholds: np.ndarray

    @property
    def auc(self) -> float:
        return float(np.trapezoid(self.tar, self.far))

    @property
    def best_accuracy(self) -> float:
        """Accuracy at the best threshold with genuine and impostor pairs weighing half each
        (as in the LFW protocol, whose folds hold as many of each)."""
        return float(np.max((self.tar + 1.0 - self.far) / 2))

    @property
    def eer(self) -> float:
        """Equal error rate: where the false accept rate meets the false reject rate."""
        frr = 1.0 - self.tar
        i = int(np.argmin(np.abs(frr - self.far)))
        return float((frr[i] + self.far[i]) / 2)


def roc_curve(scores: np.ndarray, same: np.ndarray, weights: np.ndarray | None = None) -> Roc:
    """ROC of ``scores`` (higher means more alike) against boolean labels ``same``.

    ``weights`` (one per pair, default all 1) make the rates weighted shares of the genuine and of
    the impostor pairs, e.g. :func:`person_balanced_weights`.
    """
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if same.all() or not same.any():
        raise ValueError("a ROC needs both genuine and impostor pairs")
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_same, sorted_weights = scores[order], same[order], weights[order]
    # Keep the last index of each run of equal scores: ties are accepted together.
    last = np.r_[np.nonzero(np.diff(sorted_scores))[0], len(scores) - 1]
    tp = np.cumsum(sorted_weights * sorted_same)[last]
    fp = np.cumsum(sorted_weights * ~sorted_same)[last]
    if tp[-1] <= 0 or fp[-1] <= 0:
        raise ValueError("the genuine and the impostor pairs each need a positive total weight")
    tar = np.r_[0.0, tp / tp[-1]]
    far = np.r_[0.0, fp / fp[-1]]
    return Roc(far=far, tar=tar, thresholds=np.r_[np.inf, sorted_scores[last]])


def tar_at_far(roc: Roc, far: float) -> float:
    """The highest true accept rate whose false accept rate is at most ``far``."""
    allowed = roc.far <= far + 1e-12
    return float(roc.tar[allowed].max())


def threshold_at_far(roc: Roc, far: float) -> float:
    """The lowest score threshold whose false accept rate is at most ``far``."""
    allowed = np.nonzero(roc.far <= far + 1e-12)[0]
    return float(roc.thresholds[allowed[np.argmax(roc.tar[allowed])]])


def person_balanced_weights(people: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Weights for the pairs ``(first[i], second[i])`` of a photo collection (indices into ``people``, the
    person of each photo; every pair once) that make every person weigh the same among the genuine
    pairs and every pair of people the same among the impostor pairs: pairs drawn person first, as
    the LFW protocol draws them. Plain counts let the most photographed people dominate (a person
    with 500 photos brings 124,750 genuine pairs, one with 2 photos brings 1).
    """
    _, person, photos = np.unique(np.asarray(people), return_inverse=True, return_counts=True)
    n_first, n_second = photos[person[first]].astype(np.float64), photos[person[second]].astype(np.float64)
    same = person[first] == person[second]
    return np.where(same, 2.0 / (n_first * np.maximum(n_first - 1, 1)), 1.0 / (n_first * n_second))


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold that maximises accuracy (midpoint between neighbouring scores)."""
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    candidates = np.unique(scores)
    cuts = np.r_[candidates[0] - 1e-6, (candidates[1:] + candidates[:-1]) / 2, candidates[-1] + 1e-6]
    # accuracy(cut) = (#same with score >= cut + #different with score < cut) / n
    same_sorted = np.sort(scores[same])
    diff_sorted = np.sort(scores[~same])
    accepted_same = len(same_sorted) - np.searchsorted(same_sorted, cuts, side="left")
    rejected_diff = np.searchsorted(diff_sorted, cuts, side="left")
    return float(cuts[int(np.argmax(accepted_same + rejected_diff))])


@dataclass(frozen=True)
class FoldResult:
    accuracy: float
    threshold: float


def fold_accuracy(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> list[FoldResult]:
    """Accuracy on each fold with the threshold chosen on all the other folds."""
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    results = []
    for fold in np.unique(folds):
        test = folds == fold
        threshold = best_threshold(scores[~test], same[~test])
        predicted = scores[test] >= threshold
        results.append(FoldResult(float((predicted == same[test]).mean()), threshold))
    return results
