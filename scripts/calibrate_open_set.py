"""Calibrate the open-set identification threshold: the impostor score tail on LFW dev.

Every image of ``lfw_dev`` is embedded (cached); every pair of images of two different
people is an impostor comparison (about 14 million). For each false accept rate FAR the
threshold that only that fraction of impostor scores reaches is printed, ready for the
``impostor_tail`` field of a weights entry. A gallery of N people then sets its threshold
for a false-positive identification rate of 1% at FAR = 1% / N (``Weights.open_set_threshold``).

The pairs are not independent (each person appears many times), so the far end of the tail
(FAR 1e-6 rests on about 14 comparisons) is a rough estimate. Check it on other people with
``scripts/eval_identify.py``; do not report identification results at these thresholds on LFW
dev itself, which chose them.

    python scripts/calibrate_open_set.py --shared ../shared
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from platformdirs import user_cache_dir

from facerec import FaceRecognizer
from facerec.evaluation.pairs import embed_files
from facerec.gallery import IMAGE_SUFFIXES

FARS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


def impostor_scores(vectors: np.ndarray, people: np.ndarray, block: int = 1024) -> np.ndarray:
    """Scores of every pair of images (i < j) of different people."""
    out = []
    for start in range(0, len(vectors), block):
        scores = vectors[start : start + block] @ vectors.T
        rows = np.arange(start, min(start + block, len(vectors)))[:, None]
        keep = (np.arange(len(vectors))[None, :] > rows) & (people[rows] != people[None, :])
        out.append(scores[keep])
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=os.environ.get("FACEREC_SHARED", "../shared"))
    parser.add_argument("--cache-dir", default=str(Path(user_cache_dir("facerec")) / "eval"))
    args = parser.parse_args()
    root = Path(args.shared) / "data" / "lfw_dev" / "images"
    os.environ.setdefault("FACEREC_WEIGHTS_DIR", str(Path(args.shared) / "weights"))
    images = sorted(p for p in root.glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES)
    recognizer = FaceRecognizer()
    vectors, detected = embed_files(recognizer, images, select="center", cache_dir=Path(args.cache_dir), progress=True)
    people = np.array([p.parent.name for p in images])
    scores = impostor_scores(vectors, people)
    print(f"{recognizer.model_key}: {len(images)} images of {len(set(people))} people "
          f"({int((~detected).sum())} without a detected face), {len(scores):,} impostor pairs")
    tail = []
    for far in FARS:
        threshold = float(np.quantile(scores, 1 - far, method="higher"))
        tail.append((far, round(threshold, 4)))
        print(f"FAR {far:.0e}: threshold {threshold:.4f} ({int(round(far * len(scores))):,} pairs above)")
    print(f"\nimpostor_tail={tuple(tail)}")


if __name__ == "__main__":
    main()
