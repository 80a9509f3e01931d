"""AT&T transfer experiment: pretrained MobileFaceNet frozen + new linear head vs. the same net from scratch.

Step 1 (``crops``) detects and aligns the 400 AT&T photos to 112x112 with facerec's MTCNN and 5-point
alignment (a fallback crop where no face is found) and writes them as a folder tree, so that the
from-scratch baseline can be trained with the ordinary command::

    facerec zoo train --arch mobilefacenet --data runs/att_aligned --train-per-class K --seed S ...

Step 2 (``frozen``) embeds every crop once with the pretrained, frozen MobileFaceNet (flip TTA, unit
vectors), then for each seed and K in 1, 2, 3 trains a linear 40-way head on the K training photos per
person and tests it on the other 10 - K, using the very same seeded split as ``facerec zoo train``
(:func:`facerec.zoo.data.split_indices`). A 1-nearest-neighbour cosine score is printed alongside.

    python scripts/zoo_att_transfer.py crops  --out runs/att_aligned
    python scripts/zoo_att_transfer.py frozen --aligned runs/att_aligned --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from facerec import FaceRecognizer
from facerec.models import get_model
from facerec.zoo.data import data_root, read_folder_tree, split_indices


def make_crops(out: Path) -> None:
    """Align every AT&T photo to 112x112 RGB and save ``out/sN/M.png``; report the detection rate."""
    source = data_root() / "att_faces"
    recognizer = FaceRecognizer()
    paths = sorted(source.glob("s*/*.pgm"))
    tic = time.perf_counter()
    aligned = recognizer.align(paths)
    crops, detected = aligned.crops, aligned.detected
    for path, crop in zip(paths, crops):
        target = out / path.parent.name / (path.stem + ".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(crop).save(target)
    found = int(detected.sum())
    print(f"{len(paths)} photos, MTCNN found a face in {found} ({found / len(paths):.1%}), "
          f"fallback crop for {len(paths) - found}; {time.perf_counter() - tic:.0f}s -> {out}")


def train_head(x: torch.Tensor, y: torch.Tensor, classes: int, seed: int, steps: int = 300) -> torch.nn.Linear:
    """A linear softmax head on fixed features: full-batch Adam, a little L2."""
    torch.manual_seed(seed)
    head = torch.nn.Linear(x.shape[1], classes)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.01, weight_decay=1e-4)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(head(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head


def frozen(aligned: Path, seeds: list[int], shots: list[int]) -> dict:
    images, labels, classes = read_folder_tree(aligned)
    embedder = get_model("mobilefacenet")
    tic = time.perf_counter()
    features = embedder.embed(images.transpose(0, 2, 3, 1), flip=True)
    print(f"embedded {len(images)} crops in {time.perf_counter() - tic:.0f}s (frozen backbone, flip TTA)")
    x_all, y_all = torch.from_numpy(features), torch.from_numpy(labels.astype(np.int64))
    results: dict[str, dict[str, list[float]]] = {}
    for k in shots:
        head_acc, nn_acc = [], []
        for seed in seeds:
            train_idx, test_idx = split_indices(labels, len(classes), train_per_class=k, seed=seed)
            head = train_head(x_all[train_idx], y_all[train_idx], len(classes), seed)
            with torch.inference_mode():
                predicted = head(x_all[test_idx]).argmax(1)
            head_acc.append(float((predicted == y_all[test_idx]).float().mean()))
            nearest = (features[test_idx] @ features[train_idx].T).argmax(1)
            nn_acc.append(float((labels[train_idx][nearest] == labels[test_idx]).mean()))
        results[str(k)] = {"head": head_acc, "nearest_neighbour": nn_acc}
        print(f"K={k}: frozen + linear head {np.mean(head_acc):.2%} ± {np.std(head_acc):.2%}   "
              f"1-NN cosine {np.mean(nn_acc):.2%} ± {np.std(nn_acc):.2%}   "
              f"({len(test_idx)} test photos, seeds {seeds})")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    crops = sub.add_parser("crops", help="Detect, align and save the 112x112 AT&T crops.")
    crops.add_argument("--out", type=Path, default=Path("runs/att_aligned"), help="Output folder tree.")
    head = sub.add_parser("frozen", help="Frozen pretrained MobileFaceNet + linear head, K shots per person.")
    head.add_argument("--aligned", type=Path, default=Path("runs/att_aligned"), help="Folder from `crops`.")
    head.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="Split seeds.")
    head.add_argument("--shots", type=int, nargs="+", default=[1, 2, 3], help="Training photos per person.")
    head.add_argument("--json", type=Path, default=None, help="Also write the accuracies here.")
    args = parser.parse_args()
    if args.step == "crops":
        make_crops(args.out)
    else:
        results = frozen(args.aligned, args.seeds, args.shots)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
