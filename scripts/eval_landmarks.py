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
  to 0.3 points when the landmarks move by about a pixel.

    python scripts/eval_landmarks.py --shared ../shared --pipelines "yunet,retinaface;yunet,retinaface@detector"
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from facerec import FaceRecognizer
from facerec.alignment import ARCFACE_TEMPLATE_112, estimate_similarity
from facerec.evaluation.metrics import roc_curve, tar_at_far
from facerec.gallery import IMAGE_SUFFIXES
from facerec.models.detectors import DEFAULT_LANDMARKS
from facerec.models.embedders.int8 import PRECISIONS

FARS = (1e-3, 1e-4, 1e-5)
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


def tar_at_fars(vectors: np.ndarray, people: np.ndarray) -> list[float]:
    """TAR at each FAR over every pair of photos (the project's ROC, on the upper triangle of scores)."""
    upper = np.triu_indices(len(vectors), 1)
    roc = roc_curve((vectors @ vectors.T)[upper], people[upper[0]] == people[upper[1]])
    return [tar_at_far(roc, far) for far in FARS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=os.environ.get("FACEREC_SHARED", "../shared"))
    parser.add_argument("--pipelines", default="yunet,retinaface;yunet,retinaface@detector;retinaface@detector",
                        help="';'-separated detectors, each with an optional '@landmarks' and ':options' "
                             "(fp32, int8, noflip; '-'-separated)")
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
        rows.append((pipeline, scatter(points, reference), int(np.isnan(points[:, 0, 0]).sum()),
                     tar_at_fars(vectors, people)))
    print(f"\n{len(photos)} LFW dev photos of {len(set(people))} people\n")
    print("| pipeline | rms from MTCNN's points (px of 112) | no face | "
          + " | ".join(f"TAR@FAR={far:g}, all pairs" for far in FARS) + " |")
    print("|---|---|---|" + "---|" * len(FARS))
    for pipeline, rms, missing, tars in rows:
        print(f"| `{pipeline}` | {rms:.2f} | {missing} | " + " | ".join(f"{t:.2%}" for t in tars) + " |")


if __name__ == "__main__":
    main()
