"""Verification peer benchmark: facerec vs facenet-pytorch vs dlib (face_recognition's model).

One run, the same photos for every pipeline, one markdown table:
  * photos/s end to end (decode, detect, align/crop, embed), on this machine's cores;
  * aligned faces/s for the embedder alone;
  * with --accuracy, LFW View 2 mean accuracy (same protocol, same fallback for missed faces).

facenet-pytorch runs its documented pipeline (MTCNN(image_size=160, margin=0) -> crop ->
InceptionResnetV1), per photo as in its README and also batched; its pretrained weights are
not available offline, so InceptionResnetV1 has random weights: fine for speed, and no
accuracy is reported for it. dlib needs `pip install dlib-bin face_recognition_models`.

    python scripts/bench_verify.py --shared ../shared --photos 200 --accuracy
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from facerec import FaceRecognizer
from facerec.evaluation.pairs import evaluate_scores, read_pairs


def sample_photos(pairs, count: int) -> list[Path]:
    photos = sorted({p for pair in pairs for p in (pair.a, pair.b)})
    random.Random(0).shuffle(photos)
    return photos[:count]


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:.1f}"


# -- facerec ---------------------------------------------------------------------------

def facerec_end_to_end(recognizer: FaceRecognizer, photos: list[Path]) -> float:
    start = time.perf_counter()
    recognizer.embed_images(photos, select="largest", fallback=True)
    return time.perf_counter() - start


def facerec_embedder(recognizer: FaceRecognizer, count: int) -> float:
    crops = np.random.default_rng(0).integers(0, 255, (count, 112, 112, 3), dtype=np.uint8)
    recognizer.model.embed(crops[:8], flip=recognizer.flip)
    start = time.perf_counter()
    recognizer.model.embed(crops, flip=recognizer.flip)
    return time.perf_counter() - start


# -- facenet-pytorch -----------------------------------------------------------------

def facenet_models():
    from facenet_pytorch import MTCNN, InceptionResnetV1

    return MTCNN(image_size=160, margin=0), InceptionResnetV1(pretrained=None).eval()


def facenet_per_photo(photos: list[Path]) -> float:
    mtcnn, resnet = facenet_models()
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
    with torch.no_grad():
        resnet(crops[:8])
        start = time.perf_counter()
        for i in range(0, count, 64):
            resnet(crops[i : i + 64])
    return time.perf_counter() - start


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
        start = time.perf_counter()
        for image, shape in items:
            self.encoder.compute_face_descriptor(image, shape, 1)
        return (time.perf_counter() - start) * count / max(1, len(items))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=os.environ.get("FACEREC_SHARED", "../shared"))
    parser.add_argument("--photos", type=int, default=200, help="photos for the speed runs")
    parser.add_argument("--crops", type=int, default=256, help="aligned faces for the embedder-only runs")
    parser.add_argument("--accuracy", action="store_true", help="also run LFW-dev accuracy (facerec and dlib)")
    parser.add_argument("--no-dlib", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    shared = Path(args.shared)
    os.environ.setdefault("FACEREC_WEIGHTS_DIR", str(shared / "weights"))
    lfw = shared / "data" / "lfw_dev"
    pairs = read_pairs(lfw / "pairs_dev.txt", lfw / "images")
    photos = sample_photos(pairs, args.photos)
    print(f"{len(photos)} LFW-dev photos (250x250), {args.crops} crops, torch threads {torch.get_num_threads()}, "
          f"{os.cpu_count()} cores", flush=True)

    rows = []
    recognizer = FaceRecognizer()
    facerec_end_to_end(recognizer, photos[:8])  # warm-up
    rows.append(["facerec (MTCNN + 5-pt align + MobileFaceNet, flip TTA)",
                 rate(len(photos), facerec_end_to_end(recognizer, photos)),
                 rate(args.crops, facerec_embedder(recognizer, args.crops))])
    fast = FaceRecognizer(flip=False)
    rows.append(["facerec, --no-flip", rate(len(photos), facerec_end_to_end(fast, photos)),
                 rate(args.crops, facerec_embedder(fast, args.crops))])
    print("facerec done", flush=True)
    embed_rate = rate(args.crops, facenet_embedder(args.crops))
    rows.append(["facenet-pytorch documented (MTCNN crop -> InceptionResnetV1), per photo",
                 rate(len(photos), facenet_per_photo(photos)), embed_rate])
    rows.append(["facenet-pytorch, batched 32", rate(len(photos), facenet_batched(photos)), embed_rate])
    print("facenet-pytorch done", flush=True)
    dlib_peer = None if args.no_dlib else Dlib()
    if dlib_peer:
        rows.append(["dlib ResNet-128 (face_recognition models: HOG + 5-pt + ResNet)",
                     rate(len(photos), dlib_peer.end_to_end(photos)),
                     rate(args.crops, dlib_peer.embedder(photos, min(args.crops, len(photos))))])
        print("dlib done", flush=True)

    accuracy = {}
    if args.accuracy:
        from facerec.evaluation.pairs import evaluate_pairs

        report = evaluate_pairs(recognizer, pairs, select="center", cache_dir=None, progress=True)
        accuracy[rows[0][0]] = report
        if dlib_peer:
            images = sorted({p for pair in pairs for p in (pair.a, pair.b)})
            vectors, found = {}, {}
            for path in images:
                vectors[path], found[path] = dlib_peer.embed(path, select="center")
            scores = np.array([-np.linalg.norm(vectors[p.a] - vectors[p.b]) for p in pairs])
            accuracy[rows[-1][0]] = evaluate_scores(scores, pairs, model="dlib", images=len(images),
                                                    no_face=sum(not f for f in found.values()))

    print()
    print("| pipeline | photos/s end to end | aligned faces/s, embedder alone | LFW-dev accuracy | TAR@FAR=1e-3 | no face found |")
    print("|---|---|---|---|---|---|")
    for name, e2e, emb in rows:
        rep = accuracy.get(name)
        acc = f"{rep.accuracy:.2%}" if rep else "-"
        tar = f"{rep.tar_at_far['1e-3']:.2%}" if rep else "-"
        miss = str(rep.no_face) if rep else "-"
        print(f"| {name} | {e2e} | {emb} | {acc} | {tar} | {miss} |")


if __name__ == "__main__":
    main()
