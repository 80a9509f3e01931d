"""One-shot open-set identification benchmark on the shared data.

For each dataset a gallery is built with ONE photo per enrolled person (through
facerec.Gallery: real SQLite file, real FAISS index); enrolled people are probed with
their other photos, and people never enrolled are probed to measure false alarms.

  * LFW dev: people with 2+ photos are enrolled (first photo); people with one photo are
    the non-enrolled probes.
  * AT&T: s1-s30 enrolled (photo 1), s31-s40 never enrolled.
  * Extended Yale B (19 people): the first 14 enrolled (frontal ambient-light photo), 5 never enrolled.

Reported: rank-1 / rank-5 identification rate (and rank-1 on the Yale B probes lit from within
25 degrees of frontal in azimuth), FNIR at FPIR = 1% (the threshold passes 1% of one half of the
non-enrolled probes, and FNIR/FPIR are then scored with the other half; both halves in turn, averaged),
FNIR and FPIR at the model's size-aware threshold (before: it grows with the gallery's size) and at the
self-calibrating default (after: the stricter of that and the gallery's own impostor tail), photos
without a detected face (scored from a fallback crop), enrollment rate and identify latency.

    python scripts/eval_identify.py --shared ../shared [--detector NAME] [--backend onnx|torch]
        [--precision auto|int8|fp32] [--no-flip]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facerec import FaceRecognizer, ImageReadError, MultipleFacesError, NoFaceError
from facerec.gallery import IMAGE_SUFFIXES, Gallery
from facerec.models import DEFAULT_DETECTOR
from facerec.models.detectors import DEFAULT_LANDMARKS, LANDMARKS
from facerec.models.embedders.int8 import PRECISIONS


@dataclass
class Split:
    name: str
    gallery: dict[str, Path]  # person -> the one enrolled photo
    probes: list[tuple[str, Path]]  # enrolled person, photo
    strangers: list[Path]  # photos of people never enrolled


def photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def lfw_split(root: Path) -> Split:
    people = {p.name: photos(p) for p in sorted(root.iterdir()) if p.is_dir()}
    enrolled = {n: ps for n, ps in people.items() if len(ps) >= 2}
    return Split("LFW dev", {n: ps[0] for n, ps in enrolled.items()},
                 [(n, p) for n, ps in enrolled.items() for p in ps[1:]],
                 [ps[0] for n, ps in people.items() if len(ps) == 1])


def split_people(name: str, root: Path, enrolled_count: int) -> Split:
    people = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name))
    enrolled, strangers = people[:enrolled_count], people[enrolled_count:]
    return Split(name, {p.name: photos(p)[0] for p in enrolled},
                 [(p.name, x) for p in enrolled for x in photos(p)[1:]],
                 [x for p in strangers for x in photos(p)])


def evaluate(split: Split, recognizer: FaceRecognizer, workdir: Path, k: int = 5) -> dict[str, object]:
    gallery = Gallery(recognizer, db=workdir / (split.name.replace(" ", "_") + ".db"))
    start = time.perf_counter()
    failed_enroll = 0
    for person, photo in split.gallery.items():
        try:
            gallery.enroll(person, [photo], save=False, allow_duplicate=True)  # the protocol enrolls everyone
        except (NoFaceError, MultipleFacesError, ImageReadError):  # a photo that cannot be enrolled is counted
            failed_enroll += 1
    gallery.store.save()
    enroll_rate = len(split.gallery) / (time.perf_counter() - start)

    probe_paths = [p for _, p in split.probes] + split.strangers
    embedded = recognizer.embed_images(probe_paths, select="largest", fallback=True, progress=True)
    results = gallery.store.search(embedded.embeddings, k)
    truth = [n for n, _ in split.probes]
    mated = results[: len(truth)]
    strangers = results[len(truth):]
    rank1 = np.mean([bool(c) and c[0].name == t for c, t in zip(mated, truth)])
    rank5 = np.mean([t in [x.name for x in c] for c, t in zip(mated, truth)])
    mated_top = np.array([c[0].score if c and c[0].name == t else -np.inf for c, t in zip(mated, truth)])
    stranger_top = np.array([c[0].score if c else -np.inf for c in strangers])
    fnir_1, fpir_1, t1 = held_out_fpir_1(mated_top, stranger_top)
    calibration = gallery.calibration()  # the self-calibrating default: model tail, or the gallery's own
    default, model = calibration.threshold, calibration.model_threshold
    frontal = np.array([_frontal(p) for _, p in split.probes])

    latencies = []
    for path in probe_paths[:100]:
        t = time.perf_counter()
        try:
            gallery.identify(path, top_k=k)
        except NoFaceError:
            continue  # the answer "no face" is quick and not what we time
        latencies.append((time.perf_counter() - t) * 1000)
    gallery.close()
    return {
        "dataset": split.name, "enrolled": len(split.gallery) - failed_enroll, "failed_enroll": failed_enroll,
        "mated probes": len(truth), "non-enrolled probes": len(split.strangers),
        "rank-1": rank1, "rank-5": rank5,
        "rank-1 frontal": float(np.mean([bool(c) and c[0].name == t for c, t, f in zip(mated, truth, frontal) if f]))
        if frontal.any() else float("nan"),
        "FNIR@FPIR=1%": fnir_1, "FPIR held out": fpir_1, "threshold@FPIR=1%": t1,
        "model threshold": model,
        "FNIR@model": float(np.mean(mated_top < model)), "FPIR@model": float(np.mean(stranger_top >= model)),
        "default threshold": default, "chosen by": calibration.source,
        "FNIR@default": float(np.mean(mated_top < default)), "FPIR@default": float(np.mean(stranger_top >= default)),
        "no face (probes)": int((~embedded.detected).sum()),
        "no face (frontal probes)": int((~embedded.detected[: len(truth)][frontal]).sum()) if frontal.any() else 0,
        "enroll photos/s": enroll_rate, "identify p50 ms": float(np.median(latencies)),
    }


def held_out_fpir_1(mated_top: np.ndarray, stranger_top: np.ndarray) -> tuple[float, float, float]:
    """FNIR and FPIR at the threshold that passes 1% of one half of the strangers, scored with the
    other half (both halves in turn, averaged), so that no stranger scores the threshold it chose."""
    if len(stranger_top) < 2:
        return float("nan"), float("nan"), float("nan")
    order = np.random.default_rng(0).permutation(len(stranger_top))
    halves = [stranger_top[order[::2]], stranger_top[order[1::2]]]
    fnir, fpir, thresholds = [], [], []
    for choose, score in (halves, halves[::-1]):
        threshold = float(np.quantile(choose, 0.99, method="higher")) + 1e-6
        thresholds.append(threshold)
        fnir.append(float(np.mean(mated_top < threshold)))
        fpir.append(float(np.mean(score >= threshold)))
    return float(np.mean(fnir)), float(np.mean(fpir)), float(np.mean(thresholds))


def _frontal(path: Path) -> bool:
    """A Yale B photo lit from within 25 degrees of frontal in azimuth (``P00A+005E...``); False elsewhere."""
    if "P00A" not in path.name:
        return False
    azimuth = path.name.split("P00A")[1][:4]
    return azimuth[1:].isdigit() and abs(int(azimuth)) <= 25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=os.environ.get("FACEREC_SHARED", "../shared"))
    parser.add_argument("--datasets", default="lfw,att,yale", help="comma-separated subset of lfw,att,yale")
    parser.add_argument("--detector", default=DEFAULT_DETECTOR, help="detector name or comma-separated cascade")
    parser.add_argument("--backend", default="onnx", choices=["onnx", "torch"])
    parser.add_argument("--precision", default="auto", choices=PRECISIONS)
    parser.add_argument("--landmarks", default=DEFAULT_LANDMARKS, choices=LANDMARKS)
    parser.add_argument("--no-flip", action="store_true", help="no flip test-time augmentation")
    args = parser.parse_args()
    data = Path(args.shared) / "data"
    os.environ.setdefault("FACEREC_WEIGHTS_DIR", str(Path(args.shared) / "weights"))
    recognizer = FaceRecognizer(detector=args.detector, backend=args.backend, precision=args.precision,
                                flip=not args.no_flip, landmarks=args.landmarks)
    splits = {"lfw": lambda: lfw_split(data / "lfw_dev" / "images"),
              "att": lambda: split_people("AT&T", data / "att_faces", 30),
              "yale": lambda: split_people("Yale B", data / "yale_b_dev", 14)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for key in args.datasets.split(","):
            rows.append(evaluate(splits[key](), recognizer, Path(tmp)))
            print(rows[-1], flush=True)
    print(f"\nmodel {recognizer.model_key}, detector {args.detector}, landmarks {args.landmarks}, "
          f"backend {recognizer.backend} {recognizer.precision}, "
          f"flip {recognizer.flip}; 'model threshold' grows with the gallery's size (Weights.open_set_threshold, "
          "calibrated on LFW dev: its LFW figures are in-sample); 'default threshold' is the self-calibrating one "
          "(facerec.open_set: the stricter of that and the enrolled people's own impostor tail)\n")
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(_fmt(c, row[c]) for c in columns) + " |")


def _fmt(column: str, value: object) -> str:
    if not isinstance(value, float):
        return str(value)
    if column.startswith(("rank", "FNIR", "FPIR")):
        if value != value:  # NaN: not applicable
            return "-"
        return f"{value:.2%}"
    return f"{value:.3f}" if "threshold" in column else f"{value:.1f}"


if __name__ == "__main__":
    main()
