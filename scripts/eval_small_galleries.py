"""Galleries of 2 to 4 people (issue 36): what the shipped rule (the strictest condition group's bar, their
homogeneity not measured) gives, and what measuring their homogeneity from so few people would give.

For each shared set, random galleries of 2, 3 and 4 people the shipped calibration held out (roles as
``facerec.calibration.roles`` gives them): each person's first photo enrolled, their other photos the mated
probes, 60 photos of other held-out people the strangers of each gallery. Thresholds from
``facerec.open_set.decision_thresholds`` (FPIR 1%, verify's FAR 0.1% as the floor); the low-quality bar for
low-quality probes. Prints FNIR and FPIR per set and rule.

    python scripts/eval_small_galleries.py --shared ../shared [--cache /tmp/facerec-shared.npz]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from build_cohort import embed_shared

from facerec import FaceRecognizer
from facerec.cohort import as_norm, homogeneity, load_cohort
from facerec.open_set import FAR, FPIR, decision_thresholds


def measure(shared: dict[str, np.ndarray], recognizer: FaceRecognizer, key: str, min_people: int,
            galleries: int = 150, seed: int = 0) -> tuple[float, int, float, int]:
    """FNIR, mated probes, FPIR, stranger probes of ``galleries`` random galleries of each size 2 to 4 of set
    ``key``; a gallery's homogeneity is measured from ``min_people`` people on (5: the shipped rule)."""
    cohort, weights = load_cohort(recognizer.weights), recognizer.weights
    rng = np.random.default_rng(seed)
    rows = shared["detected"] & (shared["role"] == "held out") & (shared["set"] == key)
    vectors, people, low = shared["embedding"][rows], shared["person"][rows], shared["low"][rows]
    several = [p for p in sorted(set(people.tolist())) if (people == p).sum() >= 2]
    mean, sd = cohort.stats(vectors)
    misses = mated_count = false = stranger_count = 0
    for size in (2, 3, 4):
        for _ in range(galleries):
            enrolled = list(rng.choice(several, size, replace=False))
            first = np.array([np.nonzero(people == p)[0][0] for p in enrolled])
            side = (mean[first], sd[first])
            own = as_norm(vectors[first] @ vectors[first].T, side, side)
            own[np.arange(size), np.arange(size)] = -np.inf
            alike = homogeneity(own, people[first], least=min_people)
            plain, strict = decision_thresholds(cohort, weights, size, FPIR, FAR,
                                                None if alike is None else round(alike, 6))
            mated = np.array([i for i in np.nonzero(np.isin(people, enrolled))[0] if i not in set(first.tolist())])
            others = np.nonzero(~np.isin(people, enrolled))[0]
            others = rng.choice(others, min(60, len(others)), replace=False)
            for probes, is_mated in ((mated, True), (others, False)):
                if not len(probes):
                    continue
                scores = as_norm(vectors[probes] @ vectors[first].T, (mean[probes], sd[probes]), side)
                passed = scores.max(axis=1) >= np.where(low[probes], strict, plain)
                if is_mated:
                    right = people[first][scores.argmax(axis=1)] == people[probes]
                    misses += int((~(right & passed)).sum())
                    mated_count += len(probes)
                else:
                    false += int(passed.sum())
                    stranger_count += len(probes)
    return misses / mated_count, mated_count, false / stranger_count, stranger_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=os.environ.get("FACEREC_SHARED", "../shared"))
    parser.add_argument("--cache", type=Path, default=None, help="An embeddings file to reuse (written if missing).")
    args = parser.parse_args()
    os.environ.setdefault("FACEREC_WEIGHTS_DIR", str(Path(args.shared) / "weights"))
    recognizer = FaceRecognizer()
    shared = embed_shared(recognizer, Path(args.shared) / "data", args.cache)
    print("| set | rule | FNIR (mated probes) | FPIR (stranger probes) |\n|---|---|---|---|")
    for key in ("lfw", "att", "yale"):
        for min_people, rule in ((5, "strictest bar (before)"), (2, "homogeneity from 2-4 people (shipped)")):
            fnir, mated, fpir, strangers = measure(shared, recognizer, key, min_people)
            print(f"| {key} | {rule} | {fnir:.2%} ({mated}) | {fpir:.2%} ({strangers}) |")


if __name__ == "__main__":
    main()
