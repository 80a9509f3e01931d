"""Baselines for the from-scratch experiment: eigenfaces (PCA) and a trained/untrained checkpoint,
scored by one-shot identification on held-out AT&T people (rank-1, averaged over all ten choices
of the enrolled photo).

Crops are the same cached, aligned crops `facerec train` used (``--pad``/``--fallback`` must match).
PCA is fitted on the training people's crops only (grey, resized to ``--size``).

    python scripts/train_scratch_baselines.py --weights runs/scratch_r18/model.pt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image
from platformdirs import user_cache_dir
from sklearn.decomposition import PCA

from facerec.models import get_model, get_weights
from facerec.train.data import FaceFolder, load_face_folder, select_people
from facerec.train.evaluate import one_shot_rank1

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def grey(crops: np.ndarray, size: int) -> np.ndarray:
    small = [np.asarray(Image.fromarray(c).convert("L").resize((size, size), Image.BILINEAR)) for c in crops]
    return np.stack(small).reshape(len(crops), -1).astype(np.float32) / 255.0


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def euclidean_rank1(vectors: np.ndarray, labels: np.ndarray) -> float:
    """one_shot_rank1 with nearest neighbour by Euclidean distance (classic eigenfaces)."""
    people = np.unique(labels)
    indices = [np.nonzero(labels == p)[0] for p in people]
    scores = []
    for j in range(min(len(i) for i in indices)):
        enrolled = np.array([i[j] for i in indices])
        probes = np.setdiff1d(np.arange(len(labels)), enrolled)
        d = ((vectors[probes, None, :] - vectors[None, enrolled, :]) ** 2).sum(-1)
        scores.append(float((people[d.argmin(1)] == labels[probes]).mean()))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="a resnet18 model.pt from facerec train")
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--pad", type=float, default=0.5)
    parser.add_argument("--fallback", default="whole")
    parser.add_argument("--size", type=int, default=64, help="PCA input side (grey)")
    parser.add_argument("--components", type=int, nargs="+", default=[20, 50, 100])
    args = parser.parse_args()
    cache = f"{user_cache_dir('facerec')}/faces"
    alignment = get_weights(args.model).alignment
    common = {"cache_dir": cache, "pad": args.pad, "fallback": args.fallback}
    att, yale = SHARED / "att_faces", SHARED / "yale_b_dev"
    training = FaceFolder.concat([
        load_face_folder(att, alignment, people=select_people(att, include=[f"s{i}" for i in range(1, 31)],
                                                              min_images=2), **common),
        load_face_folder(yale, alignment, people=select_people(yale, min_images=2), **common),
    ])
    test = load_face_folder(att, alignment, people=[f"s{i}" for i in range(31, 41)], **common)
    result = {"test_people": len(test.people), "test_photos": len(test), "train_photos": len(training),
              "pixels_rank1": one_shot_rank1(unit(grey(test.crops, args.size)), test.labels)}
    train_x, test_x = grey(training.crops, args.size), grey(test.crops, args.size)
    for n in args.components:
        pca = PCA(n_components=n, random_state=0).fit(train_x)
        projected = pca.transform(test_x)
        result[f"pca{n}_euclidean_rank1"] = euclidean_rank1(projected, test.labels)
        result[f"pca{n}_cosine_rank1"] = one_shot_rank1(unit(projected), test.labels)
    if args.weights:
        model = get_model(args.model, weights_path=args.weights)
        result["network_rank1"] = one_shot_rank1(model.embed(test.crops), test.labels)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
