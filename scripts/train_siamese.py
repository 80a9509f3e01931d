"""Siamese similarity head vs plain cosine thresholding on LFW dev fold 5.

Frozen embeddings of a model (flip TTA, the pairs file's aligned crops, cached); the head
``sigmoid(sum_k w_k |f_i - f_j|_k + b)`` is fitted with binary cross-entropy on the fold 1-4
pairs; cosine gets its best-accuracy threshold from folds 1-4. Both are scored on fold 5 only.

    python scripts/train_siamese.py --pairs ../shared/data/lfw_dev/pairs_dev.txt \\
        --root ../shared/data/lfw_dev/images [--weights runs/lfw_ft/model.pt]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from platformdirs import user_cache_dir

from facerec.evaluation.metrics import best_threshold, roc_curve, tar_at_far
from facerec.models import get_model
from facerec.train.evaluate import PairsEvaluator
from facerec.train.siamese import fit_siamese


def scores_report(train_scores, train_same, test_scores, test_same) -> dict[str, float]:
    threshold = best_threshold(train_scores, train_same)
    roc = roc_curve(test_scores, test_same)
    return {"threshold_from_folds_1_4": round(threshold, 4),
            "fold5_accuracy": float(((test_scores >= threshold) == test_same).mean()),
            "fold5_auc": round(roc.auc, 4), "fold5_tar@far1e-3": tar_at_far(roc, 1e-3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--model", default="mobilefacenet")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--test-fold", type=int, default=5, help="1-based fold held out")
    parser.add_argument("--epochs", type=int, default=50, help="L-BFGS steps (20 iterations each)")
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--save-embeddings", default=None,
                        help="npz to keep the pair embeddings in (reused if present)")
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = get_model(args.model, weights_path=args.weights)
    pairs = PairsEvaluator(args.pairs, args.root, model.weights.alignment,
                           cache_dir=f"{user_cache_dir('facerec')}/faces", test_fold=args.test_fold - 1)
    if args.save_embeddings and Path(args.save_embeddings).is_file():
        vectors = np.load(args.save_embeddings)["vectors"]
    else:
        vectors = pairs.embeddings(model)
        if args.save_embeddings:
            np.savez(args.save_embeddings, vectors=vectors)
    a, b, same = vectors[pairs.a], vectors[pairs.b], pairs.same
    test = pairs.folds == args.test_fold - 1
    cosine = np.sum(a * b, axis=1)
    fit = fit_siamese(a[~test], b[~test], same[~test], epochs=args.epochs, lr=args.lr,
                      weight_decay=args.weight_decay)
    with torch.no_grad():
        siamese = fit.head(torch.from_numpy(a), torch.from_numpy(b)).numpy()  # logits: same order as probability
    result = {
        "model": args.model, "weights": args.weights, "train_pairs": int((~test).sum()), "test_pairs": int(test.sum()),
        "cosine": scores_report(cosine[~test], same[~test], cosine[test], same[test]),
        "siamese": {**scores_report(siamese[~test], same[~test], siamese[test], same[test]),
                    "fold5_accuracy_at_p0.5": float(((siamese[test] >= 0) == same[test]).mean()),
                    "bce_first_last": [round(fit.losses[0], 4), round(fit.losses[-1], 4)]},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
