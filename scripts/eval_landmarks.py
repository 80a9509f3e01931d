"""Landmark precision, and what it buys: each pipeline's points beside MTCNN's, and verification over all pairs.

Every LFW dev photo (5,373 photos of 2,086 people; the face nearest the centre) goes through each
pipeline (a detector, then ``@`` and who places the landmarks: ``detector``, ``retinaface`` or
``mtcnn``; no ``@`` means the default), then optionally ``:`` and ``-``-separated options: the
embedder's precision (``fp32`` or ``int8``; none means the default, int8) and ``noflip`` (no flip
test-time augmentation). Printed per pipeline:

- how far its 5 points lie from MTCNN's own (rms, in pixels of the 112x112 aligned crop, each photo
  in the frame that aligns MTCNN's points): MTCNN is an independent, precise placer, so a smaller
  figure means less scatter (and its own row is 0);
- TAR at FAR 1e-3, 1e-4 and 1e-5 over every pair of photos (59,258 genuine, 14.4M impostor pairs). That
  is far less noisy than the accuracy over the 3,000 pairs of ``facerec eval pairs``, which moves by 0.1
  to 0.3 points when the landmarks move by about a pixel;
- the same pairs person-balanced (every person weighs the same among the genuine pairs, every pair of
  people among the impostor pairs, as when the LFW protocol draws its pairs): accuracy at the best
  threshold and TAR at FAR 1e-3 and 1e-4. Plain counts let the most photographed people dominate
  (Colin Powell alone, with 236 photos, brings 47% of the genuine pairs);
- with ``--draws N``, the protocol itself replayed on N random sets of 3,000 pairs drawn as LFW draws
  them (5 folds of 300 genuine and 300 impostor pairs, person first; threshold from the other folds):
  the mean accuracy and the share of sets that reach ``--target``. This is what ``facerec eval
  pairs`` on one such set can be expected to say, and how far one set can stray.

    python scripts/eval_landmarks.py --shared ../shared --pipelines "yunet,retinaface;yunet,retinaface@detector"
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from facerec import FaceRecognizer
from facerec.alignment import ARCFACE_TEMPLATE_112, estimate_similarity
from facerec.evaluation.metrics import fold_accuracy, person_balanced_weights, roc_curve, tar_at_far
from facerec.gallery import IMAGE_SUFFIXES
from facerec.models.detectors import DEFAULT_LANDMARKS
from facerec.models.embedders.int8 import PRECISIONS

FARS = (1e-3, 1e-4, 1e-5)
BALANCED_FARS = (1e-3, 1e-4)
REFERENCE = "mtcnn@detector"


def run(pipeline: str, photos: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Points (``N x 5 x 2``, NaN where no face was found) and embeddings of ``photos``."""
    pipeline, _, options = pipeline.partition(":")
    detector, _, landmarks = pipeline.partition("@")
    precision = next((o for o in options.split("-") if o in PRECISIONS), "auto")
    recognizer = FaceRecognizer(detector=detector, landmarks=landmarks or DEFAULT_LANDMARKS,  # type: ignore[arg-type]
                                precision=precision, flip="noflip" not in options.split("-"))
    result = recognizer.embed_images(photos, select="center", progress=True)
    points = np.full((len(photos), 5, 2), np.nan)
    for i, (face, found) in enumerate(zip(result.faces, result.detected)):
        if found and face is not None:
            points[i] = face.landmarks
    return points, result.embeddings


def scatter(points: np.ndarray, reference: np.ndarray) -> float:
    """Rms distance of ``points`` from ``reference`` in the aligned frame of ``reference``."""
    both = ~np.isnan(points[:, 0, 0]) & ~np.isnan(reference[:, 0, 0])
    squares = []
    for mine, ref in zip(points[both], reference[both]):
        matrix = estimate_similarity(ref, ARCFACE_TEMPLATE_112)
        squares.append(((mine - ref) @ matrix[:, :2].T) ** 2)
    return float(np.sqrt(np.sum(squares, axis=2).mean()))


def verification(vectors: np.ndarray, people: np.ndarray) -> list[float]:
    """Over every pair of photos: TAR at each of ``FARS``, then person-balanced accuracy and TAR at
    each of ``BALANCED_FARS`` (the project's ROC, on the upper triangle of scores)."""
    first, second = np.triu_indices(len(vectors), 1)
    scores = (vectors @ vectors.T)[first, second]  # one score matrix, no copies of the 14.4M pairs
    same = people[first] == people[second]
    plain = roc_curve(scores, same)
    balanced = roc_curve(scores, same, person_balanced_weights(people, first, second))
    return ([tar_at_far(plain, far) for far in FARS] + [balanced.best_accuracy]
            + [tar_at_far(balanced, far) for far in BALANCED_FARS])


def protocol_draws(vectors: np.ndarray, people: np.ndarray, draws: int, seed: int = 0) -> np.ndarray:
    """Mean 5-fold accuracy on each of ``draws`` random LFW-style sets of 3,000 pairs (the same sets for
    every pipeline: same ``seed``, same photos)."""
    rng = np.random.default_rng(seed)
    names, person = np.unique(people, return_inverse=True)
    photos = [np.flatnonzero(person == k) for k in range(len(names))]
    several = [k for k, p in enumerate(photos) if len(p) >= 2]
    same = np.tile(np.r_[np.ones(300, bool), np.zeros(300, bool)], 5)
    folds = np.repeat(np.arange(5), 600)
    accuracies = np.empty(draws)
    for d in range(draws):
        pairs = [rng.choice(photos[several[rng.integers(len(several))]], 2, replace=False) if genuine
                 else [rng.choice(photos[k]) for k in rng.choice(len(names), 2, replace=False)]
                 for genuine in same]
        a, b = np.array(pairs).T
        scores = np.einsum("ij,ij->i", vectors[a], vectors[b])
        accuracies[d] = np.mean([r.accuracy for r in fold_accuracy(scores, same, folds)])
    return accuracies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=os.environ.get("FACEREC_SHARED", "../shared"))
    parser.add_argument("--pipelines", default="yunet,retinaface;yunet,retinaface@detector;retinaface@detector",
                        help="';'-separated detectors, each with an optional '@landmarks' and ':options' "
                             "(fp32, int8, noflip; '-'-separated)")
    parser.add_argument("--draws", type=int, default=0,
                        help="replay the 3,000-pair protocol on this many random pair sets (0: skip)")
    parser.add_argument("--target", type=float, default=0.9933, help="the accuracy --draws counts sets against")
    args = parser.parse_args()
    os.environ.setdefault("FACEREC_WEIGHTS_DIR", str(Path(args.shared) / "weights"))
    root = Path(args.shared) / "data" / "lfw_dev" / "images"
    photos = sorted(p for p in root.glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES)
    people = np.array([p.parent.name for p in photos])
    pipelines = [REFERENCE] + [p for p in args.pipelines.split(";") if p and p != REFERENCE]
    rows = []
    reference = None
    for pipeline in pipelines:
        points, vectors = run(pipeline, photos)
        reference = points if reference is None else reference
        draws = protocol_draws(vectors, people, args.draws) if args.draws else None
        rows.append((pipeline, scatter(points, reference), int(np.isnan(points[:, 0, 0]).sum()),
                     verification(vectors, people), draws))
    print(f"\n{len(photos)} LFW dev photos of {len(set(people))} people\n")
    header = (["pipeline", "rms from MTCNN's points (px of 112)", "no face"]
              + [f"TAR@FAR={far:g}, all pairs" for far in FARS] + ["person-balanced accuracy"]
              + [f"person-balanced TAR@FAR={far:g}" for far in BALANCED_FARS])
    if args.draws:
        header += [f"3,000-pair sets ({args.draws}): mean accuracy", f"share >= {args.target:.2%}"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for pipeline, rms, missing, figures, draws in rows:
        cells = [f"`{pipeline}`", f"{rms:.2f}", str(missing)] + [f"{f:.2%}" for f in figures]
        if draws is not None:
            cells += [f"{draws.mean():.2%} (sd {draws.std():.2%})", f"{np.mean(draws >= args.target - 1e-9):.0%}"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
