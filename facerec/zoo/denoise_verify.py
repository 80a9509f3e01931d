"""Face verification on noisy LFW photos, with and without DnCNN in front of recognition.

Gaussian noise of a given sigma is added to every RGB photo (seeded per photo, clipped to 8 bits as a
camera would deliver it). ``where="image"`` denoises the whole photo before detection; ``"crop"``
denoises the aligned 112x112 face crop before embedding (the recognizer's crop hook), five times
cheaper on a CPU. A one-channel DnCNN runs on each colour channel. Accuracy is cross-fold, each
fold's threshold chosen on the other folds, as ``facerec eval pairs`` does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from facerec.evaluation.pairs import Pair, evaluate_scores, read_pairs
from facerec.zoo.data import data_root
from facerec.zoo.dense_checkpoint import load_dense
from facerec.zoo.dncnn import denoise_image

__all__ = ["noisy_verification", "pair_subset"]


def pair_subset(pairs: Sequence[Pair], per_fold: int) -> list[Pair]:
    """The first ``per_fold`` matched and the first ``per_fold`` mismatched pairs of every fold."""
    chosen: list[Pair] = []
    counts: dict[tuple[int, bool], int] = {}
    for pair in pairs:
        key = (pair.fold, pair.same)
        if counts.get(key, 0) < per_fold:
            counts[key] = counts.get(key, 0) + 1
            chosen.append(pair)
    return chosen


def noisy_verification(checkpoint: str, *, sigmas: tuple[float, ...] = (25.0, 50.0), pairs_per_fold: int = 60,
                       where: str = "crop", threads: int | None = None, seed: int = 0) -> dict[str, object]:
    """Verification accuracy, AUC and faces found per noise level, without and with the denoiser."""
    from facerec.recognizer import FaceRecognizer

    if where not in ("crop", "image"):
        raise ValueError(f"where must be 'crop' or 'image', got {where!r}")
    root = data_root() / "lfw_dev"
    pairs = pair_subset(read_pairs(root / "pairs_dev.txt", root / "images"), pairs_per_fold)
    paths = sorted({str(p) for pair in pairs for p in (pair.a, pair.b)})
    model, _ = load_dense(checkpoint, kinds=("dncnn",))
    plain = FaceRecognizer(threads=threads)
    cleaner = FaceRecognizer(threads=threads, defence=_crop_denoiser(model)) if where == "crop" else plain
    clean = [plain.load(p) for p in paths]
    rows = [_measure("clean", "none", plain, clean, paths, pairs)]
    for sigma in sigmas:
        noisy = [_add_noise(image, sigma, seed + i) for i, image in enumerate(clean)]
        rows.append(_measure(f"σ={int(sigma)}", "none", plain, noisy, paths, pairs))
        if where == "image":
            started = time.perf_counter()
            noisy = [_denoise_rgb(model, image) for image in noisy]
            rows.append(_measure(f"σ={int(sigma)}", "dncnn (photo)", plain, noisy, paths, pairs,
                                 extra=time.perf_counter() - started))
        else:
            rows.append(_measure(f"σ={int(sigma)}", "dncnn (crop)", cleaner, noisy, paths, pairs))
    lines = [f"{len(pairs)} LFW dev pairs ({pairs_per_fold} matched + {pairs_per_fold} mismatched per fold), "
             f"{len(paths)} photos", "| photos | denoiser | accuracy | ROC AUC | faces found | s/photo |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['noise']} | {r['denoiser']} | {r['accuracy']:.4f} ± {r['accuracy_std']:.4f} | {r['auc']:.4f} "
              f"| {r['detected']}/{len(paths)} | {r['seconds_per_photo']:.3f} |" for r in rows]
    return {"pairs": len(pairs), "photos": len(paths), "where": where, "rows": rows, "table": "\n".join(lines)}


def _measure(noise: str, denoiser: str, recognizer, images: list[np.ndarray], paths: list[str],
             pairs: Sequence[Pair], extra: float = 0.0) -> dict[str, object]:
    started = time.perf_counter()
    batch = recognizer.embed_images(images)
    seconds = time.perf_counter() - started + extra
    where = {path: i for i, path in enumerate(paths)}
    a = np.array([where[str(p.a)] for p in pairs])
    b = np.array([where[str(p.b)] for p in pairs])
    scores = np.sum(batch.embeddings[a] * batch.embeddings[b], axis=1)
    report = evaluate_scores(scores, pairs, model=recognizer.model_key, images=len(images),
                             no_face=int((~batch.detected).sum()))
    return {"noise": noise, "denoiser": denoiser, "accuracy": report.accuracy, "accuracy_std": report.accuracy_std,
            "auc": report.auc, "detected": int(batch.detected.sum()), "seconds_per_photo": seconds / len(images)}


def _add_noise(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, sigma, image.shape)
    return np.clip(image.astype(np.float64) + noise, 0, 255).round().astype(np.uint8)


def _denoise_rgb(model: nn.Module, image: np.ndarray) -> np.ndarray:
    out = denoise_image(model, image.astype(np.float32) / 255.0)
    return np.clip(out * 255.0, 0, 255).round().astype(np.uint8)


def _crop_denoiser(model: nn.Module):  # noqa: ANN202 - a CropTransform
    def transform(crops: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return np.stack([_denoise_rgb(model, crop) for crop in crops])

    return transform
