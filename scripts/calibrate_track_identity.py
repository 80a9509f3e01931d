"""Calibrate the bound that splits a video track: how low two faces of the same person score.

``facerec watch`` checks every face a track follows against the track's own embedding; a face that scores
below the bound is taken for someone else and starts a new track. The bound is a low quantile of the
cosines of *same-person* pairs (two different photos of one person: other days, light, pose, age), so a
face of the track's own person falls under it only that rarely, and frames of one shot, far closer to each
other than two photos taken years apart, more rarely still. It is written beside the model's other
calibration data (``facerec/models/embedders/calibration/<model>-<tag>.track.json``, tied to the weights'
sha256), where :mod:`facerec.video.identity` reads it.

    python scripts/calibrate_track_identity.py --shared ../shared --quantile 0.005
"""

from __future__ import annotations

import argparse
import json
import os
from itertools import combinations
from pathlib import Path

import numpy as np
from platformdirs import user_cache_dir

from facerec import FaceRecognizer
from facerec.evaluation.pairs import embed_files
from facerec.gallery import IMAGE_SUFFIXES

CALIBRATION_DIR = Path(__file__).resolve().parents[1] / "facerec" / "models" / "embedders" / "calibration"


def genuine_scores(vectors: np.ndarray, people: list[str]) -> np.ndarray:
    """The cosine of every pair of images of one person."""
    by_person: dict[str, list[int]] = {}
    for i, person in enumerate(people):
        by_person.setdefault(person, []).append(i)
    scores = [float(vectors[i] @ vectors[j]) for rows in by_person.values() for i, j in combinations(rows, 2)]
    return np.array(scores, np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=os.environ.get("FACEREC_SHARED", "../shared"))
    parser.add_argument("--quantile", type=float, default=0.005, help="The share of same-person pairs under the bound.")
    parser.add_argument("--per-person", type=int, default=6,
                        help="Photos per person at most (the first, sorted): a few people must not make most pairs.")
    parser.add_argument("--cache-dir", default=str(Path(user_cache_dir("facerec")) / "eval"))
    parser.add_argument("--dry-run", action="store_true", help="Print the figures, write nothing.")
    args = parser.parse_args()
    root = Path(args.shared) / "data" / "lfw_dev" / "images"
    os.environ.setdefault("FACEREC_WEIGHTS_DIR", str(Path(args.shared) / "weights"))
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    images = [p for folder in folders
              for p in sorted(q for q in folder.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)[:args.per_person]]
    counts: dict[str, int] = {}
    for path in images:
        counts[path.parent.name] = counts.get(path.parent.name, 0) + 1
    images = [p for p in images if counts[p.parent.name] >= 2]  # only people with two photos or more make pairs
    recognizer = FaceRecognizer()
    vectors, detected = embed_files(recognizer, images, select="center", cache_dir=Path(args.cache_dir), progress=True)
    keep = detected  # a pair from a fallback crop (no face found) says nothing about two faces
    people = [p.parent.name for p, found in zip(images, keep) if found]
    scores = genuine_scores(vectors[keep], people)
    bound = float(np.quantile(scores, args.quantile, method="lower"))
    figures = {q: round(float(np.quantile(scores, q)), 4) for q in (0.001, 0.005, 0.01, 0.05, 0.5)}
    print(f"{recognizer.model_key}: {len(people)} faces of {len(set(people))} people, {len(scores):,} same-person "
          f"pairs; quantiles {figures}; bound at {args.quantile}: {bound:.4f}")
    weights = recognizer.weights
    record = {
        "weights_sha256": weights.sha256,
        "model": recognizer.model_key,
        "what": "cosine of two faces of one person: a face under the bound is not its track's person",
        "bound": round(bound, 4),
        "quantile": args.quantile,
        "quantiles": {str(q): v for q, v in figures.items()},
        "pairs": len(scores),
        "people": len(set(people)),
        "faces": len(people),
        "photos": f"every person of LFW dev with two photos or more (the first {args.per_person} of each, sorted), "
                  "each photo's centre face where one was detected; every pair of one person's photos",
        "command": f"python scripts/calibrate_track_identity.py --shared ../shared --quantile {args.quantile} "
                   f"--per-person {args.per_person}",
    }
    if not args.dry_run:
        path = CALIBRATION_DIR / f"{weights.model}-{weights.tag}.track.json"
        path.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
