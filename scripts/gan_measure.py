"""Measure DCGAN runs offline.

mnist: for every epochNNN.pt of a run, the Frechet distance between LeNet-5 features (the input of its
last layer) of N samples and of the 10,000 MNIST test images, the floor (N real training images against
the same test images), and the classifier's label counts over the samples of the last epoch.

faces: for N samples of a face GAN, the RMS pixel distance to the nearest training image, against the
same distance from each training image to its nearest *other* training image; a grid of samples over
their nearest training images.

    python scripts/gan_measure.py mnist runs/gan-mnist --classifier runs/lenet5-relu-mnist/best.pt \
        --json runs/gan-mnist/measure.json --plot docs/gan_mnist_frechet.png
    python scripts/gan_measure.py faces runs/gan-att --data att --grid docs/gan_att_nearest.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from facerec.zoo.data import load_data
from facerec.zoo.dcgan import load_gan, sample, save_grid
from facerec.zoo.gan_metrics import ClassifierFeatures, frechet_distance, label_counts, nearest_neighbours
from facerec.zoo.gan_train import gan_images


def mnist(args: argparse.Namespace) -> dict:
    classifier = ClassifierFeatures.from_checkpoint(args.classifier)
    data = load_data("mnist", size=(32, 32))
    test_feats, _ = classifier(data.test_x)
    rng = np.random.default_rng(args.seed)
    real = data.train_x[torch.from_numpy(rng.permutation(len(data.train_x))[: args.count])]
    real_feats, real_logits = classifier(real)
    report = {"count": args.count, "test_images": len(data.test_x),
              "floor_real_vs_test": frechet_distance(real_feats, test_feats),
              "real_label_counts": label_counts(real_logits, 10).tolist(),
              "real_confident_share": _confident(real_logits), "epochs": []}
    for path in sorted(Path(args.run).glob("epoch*.pt")):
        generator, _ = load_gan(path)
        feats, logits = classifier(sample(generator, args.count, seed=args.seed))
        counts = label_counts(logits, 10)
        confident = _confident(logits)
        report["epochs"].append({"epoch": int(path.stem[5:]), "frechet": frechet_distance(feats, test_feats),
                                 "label_counts": counts.tolist(), "confident_share": confident})
        print(f"{path.name}: FD {report['epochs'][-1]['frechet']:.2f}  labels {counts.tolist()}  "
              f"confident {confident:.2f}", flush=True)
    print(f"floor (real train vs test): {report['floor_real_vs_test']:.2f}, real images confident "
          f"{report['real_confident_share']:.2f}")
    if args.plot:
        _plot(report, args.plot)
    return report


def faces(args: argparse.Namespace) -> dict:
    generator, _ = load_gan(Path(args.run) / "last.pt")
    train = gan_images(args.data, generator.shape.size)
    samples = sample(generator, args.count, seed=args.seed)
    index, distance = nearest_neighbours(samples, train)
    _, train_distance = nearest_neighbours(train, train, exclude_self=True)
    report = {"count": args.count, "train_images": len(train),
              "sample_to_train_median": float(np.median(distance)), "sample_to_train_min": float(distance.min()),
              "train_to_other_train_median": float(np.median(train_distance)),
              "train_to_other_train_min": float(train_distance.min()),
              "distinct_nearest": int(len(set(index.tolist())))}
    print(json.dumps(report, indent=2))
    if args.grid:
        shown = samples[:16]
        save_grid(torch.cat([shown[:8], train[index[:8]], shown[8:16], train[index[8:16]]]), args.grid, nrow=8, scale=1)
    return report


def _confident(logits: np.ndarray) -> float:
    """Share of images the classifier puts in one class with probability above 0.9."""
    return float((torch.softmax(torch.from_numpy(logits), 1).max(1).values > 0.9).float().mean())


def _plot(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [e["epoch"] for e in report["epochs"]]
    figure, axis = plt.subplots(figsize=(5, 3.2))
    axis.plot(epochs, [e["frechet"] for e in report["epochs"]], "o-", label="DCGAN samples vs test")
    axis.axhline(report["floor_real_vs_test"], color="grey", ls="--", label="real train vs test (floor)")
    axis.set(xlabel="epoch", ylabel="Frechet distance (LeNet-5 features)", yscale="log")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["mnist", "faces"])
    parser.add_argument("run", help="the run folder of `facerec zoo gan train`")
    parser.add_argument("--classifier", default="runs/lenet5-relu-mnist/best.pt", help="zoo checkpoint (mnist)")
    parser.add_argument("--data", default="att", help="the face GAN's training data (faces)")
    parser.add_argument("--count", type=int, default=5000, help="samples (and real images) to compare")
    parser.add_argument("--seed", type=int, default=1, help="seed of the noise and of the real subset")
    parser.add_argument("--plot", default=None, help="Frechet distance per epoch (mnist)")
    parser.add_argument("--grid", default=None, help="samples over their nearest training images (faces)")
    parser.add_argument("--json", default=None, help="write the report here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report = mnist(args) if args.kind == "mnist" else faces(args)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
