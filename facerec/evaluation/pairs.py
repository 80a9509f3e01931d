"""The LFW View 2 pairs protocol for any file in the ``pairs.txt`` format.

The header is ``<folds> <pairs per class>``; each fold is that many matched lines
(``name i j``) followed by as many mismatched lines (``name1 i name2 j``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from facerec.detection import Selection
from facerec.errors import DatasetError
from facerec.evaluation.metrics import (
    Roc,
    best_threshold,
    fold_accuracy,
    roc_curve,
    tar_at_far,
    threshold_at_far,
)
from facerec.fileio import atomic_path
from facerec.progress import tqdm

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from facerec.recognizer import FaceRecognizer

__all__ = [
    "Pair", "read_pairs", "PairsReport", "evaluate_scores", "embed_files", "evaluate_pairs", "EmbeddingCache",
    "roc_figure", "save_roc_png",
]


@dataclass(frozen=True)
class Pair:
    a: Path
    b: Path
    same: bool
    fold: int


def read_pairs(pairs_file: str | Path, root: str | Path) -> list[Pair]:
    """Parse ``pairs_file``; image paths are ``root/Name/Name_NNNN.jpg``."""
    pairs_file, root = Path(pairs_file), Path(root)
    if not pairs_file.is_file():
        raise DatasetError(f"pairs file {pairs_file} does not exist")
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist")
    lines = [line.split() for line in pairs_file.read_text().splitlines() if line.strip()]
    try:
        folds, per_class = int(lines[0][0]), int(lines[0][1])
    except (IndexError, ValueError):
        raise DatasetError(f"{pairs_file}: the first line must be '<folds> <pairs per class>'") from None
    body = lines[1:]
    if len(body) != folds * per_class * 2:
        raise DatasetError(f"{pairs_file}: expected {folds * per_class * 2} pairs, found {len(body)}")

    def image(name: str, number: str) -> Path:
        return root / name / f"{name}_{int(number):04d}.jpg"

    pairs = []
    for index, parts in enumerate(body, start=2):
        fold = (index - 2) // (2 * per_class)
        if len(parts) == 3:
            pairs.append(Pair(image(parts[0], parts[1]), image(parts[0], parts[2]), True, fold))
        elif len(parts) == 4:
            pairs.append(Pair(image(parts[0], parts[1]), image(parts[2], parts[3]), False, fold))
        else:
            raise DatasetError(f"{pairs_file}:{index}: expected 3 or 4 fields, got {len(parts)}")
    missing = sorted({str(p) for pair in pairs for p in (pair.a, pair.b) if not p.is_file()})
    if missing:
        raise DatasetError(f"{len(missing)} images named in {pairs_file} are missing, e.g. {missing[0]}")
    return pairs


@dataclass(frozen=True)
class PairsReport:
    """What ``facerec eval pairs`` reports."""

    model: str
    pairs: int
    images: int
    no_face: int
    fold_accuracies: list[float]
    fold_thresholds: list[float]
    auc: float
    eer: float
    tar_at_far: dict[str, float]
    best_threshold_all: float
    threshold_far_1e3: float
    roc: Roc = field(repr=False, compare=False)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.fold_accuracies))

    @property
    def accuracy_std(self) -> float:
        return float(np.std(self.fold_accuracies))

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "pairs": self.pairs,
            "images": self.images,
            "images_without_detected_face": self.no_face,
            "mean_accuracy": self.accuracy,
            "accuracy_std": self.accuracy_std,
            "fold_accuracies": self.fold_accuracies,
            "fold_thresholds": self.fold_thresholds,
            "roc_auc": self.auc,
            "eer": self.eer,
            "tar_at_far": self.tar_at_far,
            "best_threshold_all_pairs": self.best_threshold_all,
            "threshold_at_far_1e-3": self.threshold_far_1e3,
        }


def evaluate_scores(
    scores: np.ndarray, pairs: Sequence[Pair], *, model: str, images: int, no_face: int
) -> PairsReport:
    """Cross-fold accuracy and ROC figures for one similarity score per pair."""
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    per_fold = fold_accuracy(scores, same, folds)
    roc = roc_curve(scores, same)
    return PairsReport(
        model=model,
        pairs=len(pairs),
        images=images,
        no_face=no_face,
        fold_accuracies=[r.accuracy for r in per_fold],
        fold_thresholds=[r.threshold for r in per_fold],
        auc=roc.auc,
        eer=roc.eer,
        tar_at_far={"1e-2": tar_at_far(roc, 1e-2), "1e-3": tar_at_far(roc, 1e-3)},
        best_threshold_all=best_threshold(scores, same),
        threshold_far_1e3=threshold_at_far(roc, 1e-3),
        roc=roc,
    )


class EmbeddingCache:
    """Embeddings of image files, keyed by model, settings and each file's path, size and mtime.

    Stored as one ``.npz`` written atomically, so an interrupted run loses nothing.
    """

    def __init__(self, directory: Path, settings: str) -> None:
        digest = hashlib.sha256(settings.encode()).hexdigest()[:16]
        self.path = directory / f"embeddings-{digest}.npz"
        self.entries: dict[str, tuple[np.ndarray, bool]] = {}
        if self.path.is_file():
            try:
                with np.load(self.path) as data:
                    keys = json.loads(str(data["keys"]))
                    for key, vector, found in zip(keys, data["vectors"], data["detected"]):
                        self.entries[key] = (vector, bool(found))
            except (OSError, ValueError, KeyError):
                self.entries = {}  # a damaged cache is rebuilt, never trusted

    @staticmethod
    def key(path: Path) -> str:
        stat = path.stat()
        return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"

    def save(self) -> None:
        keys = list(self.entries)
        with atomic_path(self.path) as tmp:
            np.savez(
                tmp,
                keys=np.array(json.dumps(keys)),
                vectors=np.stack([self.entries[k][0] for k in keys]) if keys else np.zeros((0, 0)),
                detected=np.array([self.entries[k][1] for k in keys], dtype=bool),
            )


def roc_figure(report: PairsReport) -> Figure:
    """The ROC curve as a matplotlib figure: true accept rate against false accept rate on a log axis, which
    shows the low false-accept end where a verification threshold is chosen (on a linear axis a good model's
    curve is a flat line at the top). The axis starts at the power of ten at or below the smallest false-accept
    rate these pairs can measure (one impostor pair accepted); rates of 0 are drawn at its left edge."""
    from matplotlib.figure import Figure

    far, tar = np.asarray(report.roc.far, float), np.asarray(report.roc.tar, float)
    positive = far[far > 0]
    smallest = float(positive.min()) if positive.size else 1e-3
    left = 10.0 ** np.floor(np.log10(smallest) - 1e-9)
    figure = Figure(figsize=(5, 4), dpi=120)
    ax = figure.subplots()
    ax.plot(np.maximum(far, left), tar, drawstyle="steps-post", label=f"{report.model} (AUC {report.auc:.4f})")
    ax.set_xscale("log")
    ax.set_xlim(left, 1)
    at_zero = float(tar[far == 0].max()) if (far == 0).any() else 0.0  # the true accepts with no false accept
    ax.set_ylim(max(0.0, min(at_zero, float(tar[far > 0].min(initial=1.0))) - 0.05), 1.005)
    ax.set_xlabel("false accept rate (log scale)")
    ax.set_ylabel("true accept rate")
    ax.set_title(f"ROC, {report.pairs} pairs, accuracy {report.accuracy:.2%}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    figure.tight_layout()
    return figure


def save_roc_png(report: PairsReport, path: Path) -> None:
    """Save :func:`roc_figure` as a PNG at ``path`` (written atomically)."""
    figure = roc_figure(report)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")


def embed_files(
    recognizer: FaceRecognizer,
    images: Sequence[Path],
    *,
    select: Selection = "center",
    cache_dir: Path | None = None,
    progress: bool = False,
    save_every: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings (``N x D``) and a detected-face flag for image files, cached under ``cache_dir`` (saved
    every ``save_every`` images), with one progress bar for them all.

    Images with no detected face are embedded from a fallback crop and flagged, never dropped.
    """
    detector = json.dumps(recognizer.detector.settings, sort_keys=True)
    settings = (f"{recognizer.model_key}|flip={recognizer.flip}|precision={recognizer.precision}|select={select}"
                f"|detector={detector}|v3")
    cache = EmbeddingCache(cache_dir, settings) if cache_dir else None
    keys = [EmbeddingCache.key(path) for path in images]
    vectors = np.zeros((len(images), recognizer.weights.embedding_size), np.float32)
    detected = np.zeros(len(images), bool)
    todo = [i for i, key in enumerate(keys) if cache is None or key not in cache.entries]
    with tqdm(total=len(todo), unit="img", disable=not progress, desc="embedding") as bar:  # one bar in all
        for start in range(0, len(todo), save_every):
            chunk = todo[start : start + save_every]
            result = recognizer.embed_images([images[i] for i in chunk], select=select, fallback=True)
            for i, vector, found in zip(chunk, result.embeddings, result.detected):
                vectors[i], detected[i] = vector, found
                if cache is not None:
                    cache.entries[keys[i]] = (vector, bool(found))
            if cache is not None:
                cache.save()
            bar.update(len(chunk))
    if cache is not None:
        for i, key in enumerate(keys):
            vectors[i], detected[i] = cache.entries[key]
    return vectors, detected


def evaluate_pairs(
    recognizer: FaceRecognizer,
    pairs: Sequence[Pair],
    *,
    select: Selection = "center",
    cache_dir: Path | None = None,
    progress: bool = False,
) -> PairsReport:
    """Embed every image of ``pairs`` (cached), score each pair by cosine similarity, report.

    Images with no detected face are scored from a fallback crop and counted, never dropped.
    """
    images = sorted({p for pair in pairs for p in (pair.a, pair.b)})
    vectors, detected = embed_files(recognizer, images, select=select, cache_dir=cache_dir, progress=progress)
    row = {path: i for i, path in enumerate(images)}
    scores = np.array([float(np.dot(vectors[row[p.a]], vectors[row[p.b]])) for p in pairs])
    return evaluate_scores(
        scores, pairs, model=recognizer.model_key, images=len(images), no_face=int((~detected).sum()),
    )
