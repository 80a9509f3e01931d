"""Training the YOLO-style face detector on teacher-labelled mosaics, and measuring it beside others.

Anchors come from k-means (distance 1 - IoU) on the training boxes. Training uses random horizontal
flips (landmarks swapped left/right). :func:`compare_detectors` runs any registered detectors and the
trained one on the same held-out mosaics: AP at IoU 0.5 against the teacher's boxes, the landmark
error of matched faces (mean point distance over the teacher box's width) and photos per second.

>>> result = train_detector(DetectConfig())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypedDict

import numpy as np
import torch

from facerec.progress import tqdm
from facerec.zoo.boxes import average_precision, box_iou, kmeans_anchors
from facerec.zoo.dense_checkpoint import save_dense
from facerec.zoo.mosaics import Mosaics, make_mosaics
from facerec.zoo.yolo import YoloFace, decode, encode_targets, yolo_face, yolo_loss

__all__ = ["DetectConfig", "DetectResult", "compare_detectors", "pick_threshold", "score_detections",
           "train_detector"]

_FLIP_MARKS = [1, 0, 2, 4, 3]  # left/right eyes and mouth corners swap in a mirror image

#: Per image: boxes (K x 4), scores (K) and landmarks (K x 5 x 2).
Detections = tuple[np.ndarray, np.ndarray, np.ndarray]


class _YoloOptions(TypedDict):
    """The :func:`yolo_face` options a checkpoint stores."""

    anchors: list[list[float]]
    width: float


@dataclass(frozen=True)
class DetectConfig:
    train_size: int = 1200
    test_size: int = 200
    size: int = 192
    anchors: int = 3
    width: float = 1.0
    epochs: int = 6
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0
    out_dir: str = "runs/yolo"
    progress: bool = True  # a step bar on stderr with the epoch's loss


@dataclass(frozen=True)
class DetectResult:
    config: DetectConfig
    anchors: tuple[tuple[float, float], ...]
    losses: tuple[float, ...]
    train_faces: int
    ap50: float
    landmark_error: float
    min_score: float
    params: int
    seconds: float
    checkpoint: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def train_detector(config: DetectConfig) -> DetectResult:
    """Train on ``train_size`` mosaics of training people, measure on ``test_size`` of test people."""
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    out = Path(config.out_dir)
    train = make_mosaics("train", config.train_size, size=config.size, seed=config.seed, cache_dir=out)
    test = make_mosaics("test", config.test_size, size=config.size, seed=config.seed, cache_dir=out)
    sizes = np.concatenate([b[:, 2:] - b[:, :2] for b in train.boxes])
    anchors = kmeans_anchors(sizes, config.anchors, seed=config.seed)
    options: _YoloOptions = {"anchors": [[float(w), float(h)] for w, h in anchors], "width": config.width}
    model = yolo_face(**options)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=5e-4)
    steps = config.epochs * (len(train.images) // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=max(1, steps))
    rng = np.random.default_rng(config.seed)
    grid = (config.size // 16, config.size // 16)
    losses = []
    bar = tqdm(total=steps, desc="yolo-face", unit="step", disable=not config.progress)
    for _ in range(config.epochs):
        model.train()
        order, total, count = rng.permutation(len(train.images)), 0.0, 0
        for start in range(0, len(order) - config.batch_size + 1, config.batch_size):
            images, boxes, marks = _batch(train, order[start : start + config.batch_size], rng, config.size)
            targets, positive = encode_targets(boxes, marks, model.anchors, grid)
            loss = yolo_loss(model(images), targets, positive)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total, count = total + loss.item(), count + 1
            bar.update()
        losses.append(total / max(1, count))
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    bar.close()
    min_score = pick_threshold(_predict(model, train.images[:200]), train.boxes[:200])
    predictions = _predict(model, test.images)
    ap50, landmark_error = score_detections(predictions, test)
    checkpoint = save_dense(out / "yolo_face.pt", "yolo-face", options, model, input_size=config.size,
                            seed=config.seed, teacher_ap50=ap50, min_score=min_score)
    result = DetectResult(config, tuple((float(w), float(h)) for w, h in anchors), tuple(losses),
                          int(sum(len(b) for b in train.boxes)), ap50, landmark_error, min_score,
                          sum(p.numel() for p in model.parameters()), time.perf_counter() - started, str(checkpoint))
    (out / "result.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result


def _batch(data: Mosaics, indices: np.ndarray, rng: np.random.Generator,
           size: int) -> tuple[torch.Tensor, list[np.ndarray], list[np.ndarray]]:
    images: list[np.ndarray] = []
    boxes: list[np.ndarray] = []
    marks: list[np.ndarray] = []
    for i in indices:
        image, box, mark = data.images[i], data.boxes[i].copy(), data.landmarks[i].copy()
        if rng.random() < 0.5:
            image = image[:, ::-1]
            box[:, [0, 2]] = size - box[:, [2, 0]]
            mark = mark[:, _FLIP_MARKS]
            mark[..., 0] = size - mark[..., 0]
        images.append(np.ascontiguousarray(image))
        boxes.append(box)
        marks.append(mark)
    tensor = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0
    return tensor, boxes, marks


def _predict(model: YoloFace, images: np.ndarray, batch_size: int = 64) -> list[Detections]:
    model.eval()
    found: list[Detections] = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(images[start : start + batch_size]).permute(0, 3, 1, 2).float() / 255.0
            for boxes, scores, marks in decode(model(batch), model.anchors, min_score=0.05):
                found.append((boxes.numpy(), scores.numpy(), marks.numpy()))
    return found


def pick_threshold(predictions: Sequence[Detections], truths: Sequence[np.ndarray]) -> float:
    """The score threshold with the best F1 at IoU 0.5 on (training) mosaics: the detector's operating point."""
    best, best_f1 = 0.5, -1.0
    total = sum(len(t) for t in truths)
    for threshold in np.arange(0.05, 0.95, 0.025):
        hits = found = 0
        for (boxes, scores, _marks), truth in zip(predictions, truths):
            kept = boxes[scores >= threshold]
            found += len(kept)
            if len(kept) and len(truth):
                overlaps = box_iou(torch.as_tensor(truth), torch.as_tensor(kept)).numpy()
                hits += int(min((overlaps.max(1) >= 0.5).sum(), (overlaps.max(0) >= 0.5).sum()))
        f1 = 2 * hits / max(found + total, 1)
        if f1 > best_f1:
            best, best_f1 = float(threshold), f1
    return best


def score_detections(predictions: Sequence[Detections], truth: Mosaics) -> tuple[float, float]:
    """AP at IoU 0.5 and the mean landmark error (over the true box width) of faces matched at IoU 0.5."""
    ap = average_precision([(p[0], p[1]) for p in predictions], truth.boxes, iou_threshold=0.5)
    errors = []
    for (boxes, _scores, marks), true_boxes, true_marks in zip(predictions, truth.boxes, truth.landmarks):
        if len(boxes) == 0 or len(true_boxes) == 0:
            continue
        overlaps = box_iou(torch.as_tensor(true_boxes), torch.as_tensor(boxes, dtype=torch.float32)).numpy()
        for t, p in enumerate(overlaps.argmax(1)):
            if overlaps[t, p] >= 0.5:
                width = true_boxes[t, 2] - true_boxes[t, 0]
                errors.append(float(np.linalg.norm(marks[p] - true_marks[t], axis=1).mean() / max(width, 1.0)))
    return ap, float(np.mean(errors)) if errors else float("nan")


def compare_detectors(names: list[str], test: Mosaics) -> list[dict[str, object]]:
    """AP@0.5 against the teacher, landmark error and photos/s of registered detectors, one photo at a time."""
    from facerec.models.detectors import get_detector

    rows = []
    for name in names:
        detector = get_detector(name)
        detector.detect([test.images[0]])  # warm-up: sessions, first-call allocations
        started = time.perf_counter()
        found = [detector.detect([image])[0] for image in test.images]
        seconds = time.perf_counter() - started
        predictions = [(np.array([f.box for f in faces], dtype=np.float32).reshape(-1, 4),
                        np.array([f.score for f in faces], dtype=np.float32),
                        np.array([f.landmarks for f in faces], dtype=np.float32).reshape(-1, 5, 2))
                       for faces in found]
        ap, landmark_error = score_detections(predictions, test)
        rows.append({"detector": name, "ap50": ap, "landmark_error": landmark_error,
                     "photos_per_second": len(test.images) / seconds})
    return rows
