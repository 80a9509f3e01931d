"""Verification peer benchmark: facerec's detectors and backends vs facenet-pytorch vs dlib.

One run, one table, the same photos for every pipeline; each pipeline runs in its own process
(so its peak memory is its own), is warmed up on the same 8 photos, then timed:
  * photos/s end to end (decode, detect, align/crop, embed), with and without flip TTA;
  * aligned faces/s for the embedder alone (batch 64, the best of three passes), and photos/s for the
    detector alone;
  * peak resident memory of the process (MB).

facenet-pytorch runs its documented pipeline (MTCNN(image_size=160, margin=0) -> crop ->
InceptionResnetV1), per photo as in its README and also batched; its pretrained weights are
not available offline, so InceptionResnetV1 has random weights: fine for speed. dlib needs
`pip install dlib-bin face_recognition_models` (the `bench` extra). Accuracy per detector comes
from `facerec eval pairs --detector NAME` (see the README).

    python scripts/bench_verify.py --shared ../shared --photos 200
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from facerec.evaluation.pairs import read_pairs
from facerec.models.detectors import DEFAULT_LANDMARKS


def sample_photos(pairs, count: int) -> list[Path]:
    photos = sorted({p for pair in pairs for p in (pair.a, pair.b)})
    random.Random(0).shuffle(photos)
    return photos[:count]


def best_seconds(run, passes: int = 3) -> float:
    """The fastest of ``passes`` timed calls of ``run()``: one pass of a few batches is at the mercy
    of a busy machine."""
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:.1f}"


# -- facerec ---------------------------------------------------------------------------

def facerec_run(config: dict, photos: list[Path], crops: int) -> dict[str, float]:
    from facerec import FaceRecognizer

    recognizer = FaceRecognizer(detector=config["detector"], landmarks=config["landmarks"], backend=config["backend"],
                                precision=config["precision"], flip=config["flip"])
    recognizer.embed_images(photos[:8], select="largest", fallback=True)  # warm-up
    start = time.perf_counter()
    recognizer.embed_images(photos, select="largest", fallback=True)
    e2e = len(photos) / (time.perf_counter() - start)
    faces = np.random.default_rng(0).integers(0, 255, (crops, 112, 112, 3), dtype=np.uint8)
    embed = crops / best_seconds(lambda: recognizer.embedder.embed(faces, flip=config["flip"]))
    pixels = [recognizer.load(p) for p in photos]
    start = time.perf_counter()
    for i in range(0, len(pixels), 32):
        recognizer.detector.detect(pixels[i : i + 32])
    detect = len(pixels) / (time.perf_counter() - start)
    return {"e2e": e2e, "embed": embed, "detect": detect, "int8": float(recognizer.precision == "int8")}


# -- facenet-pytorch -----------------------------------------------------------------

def facenet_models():
    from facenet_pytorch import MTCNN, InceptionResnetV1

    return MTCNN(image_size=160, margin=0), InceptionResnetV1(pretrained=None).eval()


def facenet_per_photo(photos: list[Path]) -> float:
    mtcnn, resnet = facenet_models()
    for path in photos[:8]:  # warm-up, as every pipeline gets
        cropped = mtcnn(Image.open(path).convert("RGB"))
        if cropped is not None:
            with torch.no_grad():
                resnet(cropped.unsqueeze(0))
    start = time.perf_counter()
    for path in photos:  # the README's recipe, one photo at a time
        img = Image.open(path).convert("RGB")
        cropped = mtcnn(img)
        if cropped is not None:
            with torch.no_grad():
                resnet(cropped.unsqueeze(0))
    return time.perf_counter() - start


def facenet_batched(photos: list[Path], batch: int = 32) -> float:
    mtcnn, resnet = facenet_models()
    with torch.no_grad():  # warm-up
        crops = [c for c in mtcnn([Image.open(p).convert("RGB") for p in photos[:8]]) if c is not None]
        if crops:
            resnet(torch.stack(crops))
    start = time.perf_counter()
    for i in range(0, len(photos), batch):
        imgs = [Image.open(p).convert("RGB") for p in photos[i : i + batch]]
        crops = [c for c in mtcnn(imgs) if c is not None]
        if crops:
            with torch.no_grad():
                resnet(torch.stack(crops))
    return time.perf_counter() - start


def facenet_embedder(count: int) -> float:
    _, resnet = facenet_models()
    crops = torch.rand(count, 3, 160, 160)
    def run() -> None:
        for i in range(0, count, 64):
            resnet(crops[i : i + 64])

    with torch.no_grad():
        resnet(crops[:8])
        return best_seconds(run)


# -- dlib (face_recognition's models) ---------------------------------------------------

class Dlib:
    def __init__(self) -> None:
        import importlib.util

        import dlib

        # Found without importing the package: it needs pkg_resources, gone from new setuptools.
        spec = importlib.util.find_spec("face_recognition_models")
        models = Path(spec.submodule_search_locations[0]) / "models"
        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.shapes = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def embed(self, path: Path, select: str = "largest") -> tuple[np.ndarray, bool]:
        image = np.asarray(Image.open(path).convert("RGB"))
        boxes = list(self.detector(image, 1))  # face_recognition's default: upsample once
        found = bool(boxes)
        if found:
            height, width = image.shape[:2]
            if select == "center":
                box = min(boxes, key=lambda r: (r.center().x - width / 2) ** 2 + (r.center().y - height / 2) ** 2)
            else:
                box = max(boxes, key=lambda r: r.area())
        else:  # same policy as facerec: the central half of the photo
            side = min(image.shape[:2]) // 2
            x0, y0 = (image.shape[1] - side) // 2, (image.shape[0] - side) // 2
            box = self.dlib.rectangle(x0, y0, x0 + side, y0 + side)
        shape = self.shapes(image, box)
        return np.asarray(self.encoder.compute_face_descriptor(image, shape, 1)), found

    def end_to_end(self, photos: list[Path]) -> float:
        for path in photos[:8]:  # warm-up
            self.embed(path)
        start = time.perf_counter()
        for path in photos:
            self.embed(path)
        return time.perf_counter() - start

    def embedder(self, photos: list[Path], count: int) -> float:
        items = []
        for path in photos:
            image = np.asarray(Image.open(path).convert("RGB"))
            boxes = self.detector(image, 1)
            if boxes:
                items.append((image, self.shapes(image, boxes[0])))
            if len(items) == count:
                break
        def run() -> None:
            for image, shape in items:
                self.encoder.compute_face_descriptor(image, shape, 1)

        return best_seconds(run) * count / max(1, len(items))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(name: str, photos: list[Path], crops: int) -> dict[str, float]:
    """One pipeline, measured in this process."""
    if name.startswith("facerec:"):
        detector, backend, flip = name.split(":")[1:]
        detector, _, landmarks = detector.partition("@")
        backend, _, precision = backend.partition("-")
        return facerec_run({"detector": detector, "landmarks": landmarks or DEFAULT_LANDMARKS, "backend": backend,
                            "precision": precision or "auto", "flip": flip == "flip"}, photos, crops)
    if name == "facenet:per-photo":
        return {"e2e": len(photos) / facenet_per_photo(photos), "embed": crops / facenet_embedder(crops)}
    if name == "facenet:batched":
        return {"e2e": len(photos) / facenet_batched(photos), "embed": crops / facenet_embedder(crops)}
    if name == "dlib":
        peer = Dlib()
        return {"e2e": len(photos) / peer.end_to_end(photos),
                "embed": min(crops, len(photos)) / peer.embedder(photos, min(crops, len(photos)))}
    raise SystemExit(f"unknown pipeline {name}")


LABELS = {
    "facenet:per-photo": "facenet-pytorch documented (MTCNN crop -> InceptionResnetV1), per photo",
    "facenet:batched": "facenet-pytorch, batched 32",
    "dlib": "dlib ResNet-128 (face_recognition models: HOG + 5-pt + ResNet)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=os.environ.get("FACEREC_SHARED", "../shared"))
    parser.add_argument("--photos", type=int, default=200, help="photos for the speed runs")
    parser.add_argument("--crops", type=int, default=256, help="aligned faces for the embedder-only runs")
    parser.add_argument("--detectors", default="yunet,retinaface;yunet;yunet-s;retinaface;mtcnn",
                        help="facerec detectors to measure, ';'-separated (a comma makes a cascade; "
                             "'@NAME' after one sets --landmarks NAME: mtcnn or detector)")
    parser.add_argument("--backends", default="onnx,onnx-fp32,torch",
                        help="','-separated: onnx (int8 where calibrated), onnx-fp32, onnx-int8, torch")
    parser.add_argument("--no-dlib", action="store_true")
    parser.add_argument("--rounds", type=int, default=2,
                        help="measure every pipeline this many times, round-robin, and keep each one's best "
                             "(a busy machine slows whichever runs at the wrong moment)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every pipeline, facerec's (FACEREC_THREADS) and torch's alike (default: the "
                             "cores; on a busy machine torch's pool collapses at 2, so compare at 1 too)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one pipeline, print JSON
    args = parser.parse_args()
    if args.threads is not None:  # inherited by each pipeline's process
        os.environ["FACEREC_THREADS"] = str(args.threads)
    shared = Path(args.shared)
    os.environ.setdefault("FACEREC_WEIGHTS_DIR", str(shared / "weights"))
    lfw = shared / "data" / "lfw_dev"
    photos = sample_photos(read_pairs(lfw / "pairs_dev.txt", lfw / "images"), args.photos)
    if args.one:
        torch.set_num_threads(int(os.environ.get("FACEREC_THREADS") or os.cpu_count() or 1))
        result = run_one(args.one, photos, args.crops)
        print(json.dumps({**result, "peak_mb": peak_mb()}))
        return
    print(f"{len(photos)} LFW-dev photos (250x250), {args.crops} crops, {os.cpu_count()} cores, "
          f"{args.threads or os.cpu_count()} thread(s) per pipeline, "
          f"each pipeline in its own process, best of {args.rounds} round-robin rounds", flush=True)
    names = [f"facerec:{d}:{b}:{f}" for d in args.detectors.split(";") for b in args.backends.split(",")
             for f in ("flip", "noflip")]
    names += ["facenet:per-photo", "facenet:batched"] + ([] if args.no_dlib else ["dlib"])
    rows: dict[str, dict[str, float]] = {}
    for _ in range(args.rounds):
        for name in names:
            command = [sys.executable, __file__, "--shared", str(shared), "--photos", str(args.photos),
                       "--crops", str(args.crops), "--one", name]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{name}: failed\n{done.stderr[-2000:]}", flush=True)
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            print(name, result, flush=True)
            best = rows.setdefault(name, result)
            for key, value in result.items():  # the best speed of the rounds, the largest memory
                best[key] = max(best[key], value)
    batched = rows.get("facenet:batched", {}).get("e2e")
    print()
    print("| pipeline | backend | flip | photos/s end to end | x facenet-pytorch batched | embedder faces/s "
          "| detector photos/s | peak MB |")
    print("|---|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        if name.startswith("facerec:"):
            detector, backend, flip = name.split(":")[1:]
            detector, _, landmarks = detector.partition("@")
            label = f"facerec, `--detector {detector} --landmarks {landmarks or DEFAULT_LANDMARKS}`"
            backend = f"{backend.partition('-')[0]} {'int8' if row['int8'] else 'fp32'}"
            flip = "yes" if flip == "flip" else "no"
        else:
            label, backend, flip = LABELS[name], "torch" if name != "dlib" else "dlib", "no"
        ratio = f"{row['e2e'] / batched:.2f}x" if batched else "-"
        detect = f"{row['detect']:.1f}" if "detect" in row else "-"
        print(f"| {label} | {backend} | {flip} | {row['e2e']:.1f} | {ratio} | {row['embed']:.1f} | {detect} "
              f"| {row['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
