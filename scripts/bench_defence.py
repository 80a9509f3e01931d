"""Speed cost of the input defences behind ``--robust``: time per aligned crop, embedding included.

    FACEREC_WEIGHTS_DIR=../shared/weights .venv/bin/python scripts/bench_defence.py --crops 256

Uses real aligned LFW crops (fold 5 of ../shared/data/lfw_dev); detection is not timed, since the
defence runs after alignment and leaves detection's cost unchanged.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from platformdirs import user_cache_dir

from facerec import FaceRecognizer
from facerec.evaluation.pairs import read_pairs
from facerec.robustness.crops import crop_pairs
from facerec.robustness.defence import JpegDefence, ResizePadDefence

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw_dev"


def best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--crops", type=int, default=256, help="number of aligned crops to time")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    recognizer = FaceRecognizer()
    pairs = [p for p in read_pairs(LFW / "pairs_dev.txt", LFW / "images") if p.fold == 4]
    cache = Path(user_cache_dir("facerec")) / "robustness"  # shared with `facerec robustness`
    crops = crop_pairs(recognizer, pairs, cache_dir=cache).crops[: args.crops]
    model = recognizer.model
    n = len(crops)
    print(f"{n} crops, flip={recognizer.flip}")
    base = best_of(args.repeats, lambda: model.embed(crops, flip=recognizer.flip))
    print(f"embed only                 {1000 * base / n:7.2f} ms/crop")
    for defence in (JpegDefence(75), ResizePadDefence(100)):
        alone = best_of(args.repeats, lambda d=defence: d.transform_crops(crops))
        total = best_of(args.repeats, lambda d=defence: model.embed(d.transform_crops(crops), flip=recognizer.flip))
        print(f"{defence.name:<8} transform only  {1000 * alone / n:7.2f} ms/crop; with embed "
              f"{1000 * total / n:7.2f} ms/crop ({100 * (total - base) / base:+.0f}% over embed)")


if __name__ == "__main__":
    main()
