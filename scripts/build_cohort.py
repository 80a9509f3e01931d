"""Build the score-normalisation cohort of the default model, and its FPIR tables (see facerec.cohort).

People of each shared set (LFW dev, AT&T, Extended Yale B), sorted by (name length, name) as
eval_identify.py sorts them, take one of four roles by their rank: rank % 4 == 2 -> the COHORT (their
detected faces are the cohort's embeddings), rank % 4 == 0 -> CALIBRATION (their faces, normalised
against the cohort, give each group's per-probe false-accept curves and from them FPIR(t, N)),
odd ranks -> HELD OUT: in neither, the people eval_identify.py --single-split reports on.
``--calibrate-on all`` (the default, and the shipped table) calibrates on every non-cohort person instead:
what the cross-fitted measurement of eval_identify.py estimates; see docs/results/open_set.md. The record
(.json) lists the cohort and calibration people, and the sha256 of the arrays and of the weights they were
made for.

Groups: "ordinary photos" (LFW), "one studio" (AT&T), "strong side light" (Yale B), "low quality"
(calibration faces of any set that facerec.quality calls low quality; only low-quality probes are held to it).
A probe's false-accept curve counts the other people of its own set, each person once (person-balanced).

    python scripts/build_cohort.py --shared ../shared [--cache /tmp/facerec-shared-int8.npz]
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facerec import FaceRecognizer
from facerec.cohort import LOW_QUALITY_GROUP, Cohort, as_norm, cohort_files, fpir_table, homogeneity
from facerec.io import IMAGE_SUFFIXES
from facerec.quality import assess_faces

K = 200  # cohort scores averaged per side: measured 50, 100, 200 (eval_identify.py --k)
T_GRID = np.round(np.arange(0.0, 12.0001, 0.05), 2)
N_GRID = np.array([1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000, 10_000, 100_000, 1_000_000])
SETS = {"lfw": ("lfw_dev/images", "ordinary photos"), "att": ("att_faces", "one studio"),
        "yale": ("yale_b_dev", "strong side light")}


def people_of(root: Path) -> list[Path]:
    """The set's people folders, in the order that gives them their roles."""
    return sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name))


def role(rank: int) -> str:
    return {0: "calibration", 2: "cohort"}.get(rank % 4, "held out")


def embed_shared(recognizer: FaceRecognizer, data: Path, cache: Path | None) -> dict[str, np.ndarray]:
    """Every photo of the three sets: set, person, role, path, embedding (largest face, else a centre
    crop), detected, quality score and low flag; read from ``cache`` when it holds this model's."""
    if cache is not None and cache.is_file():
        with np.load(cache) as saved:
            if str(saved["model"]) == _embedded_by(recognizer):
                return {key: saved[key] for key in saved.files}
    rows = []
    for key, (folder, _) in SETS.items():
        for rank, person in enumerate(people_of(data / folder)):
            for photo in sorted(p for p in person.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                rows.append((key, person.name, role(rank), str(photo)))
    paths = [row[3] for row in rows]
    vectors = np.zeros((len(paths), recognizer.weights.embedding_size), np.float32)
    detected, quality, low = np.zeros(len(paths), bool), np.zeros(len(paths)), np.zeros(len(paths), bool)
    for start, aligned in recognizer.iter_aligned(paths, select="largest", fallback="center", batch_size=64):
        end = start + len(aligned.crops)
        vectors[start:end] = recognizer.embed_crops(aligned.crops)
        detected[start:end] = aligned.detected
        found = assess_faces(aligned.faces, aligned.crops)
        quality[start:end] = [q.score for q in found]
        low[start:end] = [q.low for q in found]
    out = {"set": np.array([r[0] for r in rows]), "person": np.array([r[1] for r in rows]),
           "role": np.array([r[2] for r in rows]), "path": np.array(paths), "embedding": vectors,
           "detected": detected, "quality": quality, "low": low,
           "model": np.array(_embedded_by(recognizer))}
    if cache is not None:
        np.savez(cache, **out)
    return out


def _embedded_by(recognizer: FaceRecognizer) -> str:
    """What made an embedding: model, precision, flip, side light evened out."""
    return f"{recognizer.model_key}, {recognizer.precision}, flip {recognizer.flip}, even light {recognizer.even_light}"


def far_curves(scores: np.ndarray, people: np.ndarray, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each probe row, the person-balanced fraction of the other people's faces scoring >= each of
    T_GRID; and each probe's weight (each person counts once)."""
    _, person_index, counts = np.unique(people, return_inverse=True, return_counts=True)
    face_weight = 1.0 / counts[person_index]
    curves = np.zeros((len(probes), len(T_GRID)))
    for row, i in enumerate(probes):
        other = person_index != person_index[i]
        values, weights = scores[row, other], face_weight[other] / face_weight[other].sum()
        order = np.argsort(values)
        reach = np.concatenate([np.cumsum(weights[order][::-1])[::-1], [0.0]])  # weight at or above each value
        curves[row] = reach[np.searchsorted(values[order], T_GRID, side="left")]
    return curves, face_weight[probes]


def calibration_tables(shared: dict[str, np.ndarray], stats: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                       calibrate_on: np.ndarray, log: Callable[[str], None] | None = None
                       ) -> tuple[list[str], np.ndarray, list[float | None]]:
    """The groups, their FPIR tables (``G x M x T``) and their homogeneity (the mean normalised score
    between enrolment-grade faces of different people, averaged per person; None for the low-quality group)
    from the detected faces of the rows ``calibrate_on`` (a mask over the shared arrays), normalised with
    the cohort statistics ``stats``."""
    usable = shared["detected"] & calibrate_on
    tables, groups, alike = [], [], []
    curves_all, weights_all = [], []
    for key, (_, group) in SETS.items():
        mask = usable & (shared["set"] == key)
        vectors, people = shared["embedding"][mask], shared["person"][mask]
        side = stats(vectors)
        scores = as_norm(vectors @ vectors.T, side, side)
        curves, weights = far_curves(scores, people, np.arange(len(vectors)))
        tables.append(fpir_table(curves, weights, N_GRID))
        groups.append(group)
        low = shared["low"][mask]
        own = np.where(people[:, None] == people[None, :], -np.inf, scores)  # as facerec.cohort.own_scores
        alike.append(homogeneity(own[~low][:, ~low], people[~low], margin=0.0))  # as a gallery measures it
        curves_all.append(curves[low])
        weights_all.append(weights[low] / weights.sum())  # a low-quality probe weighs as a person of its set does
        if log is not None:
            log(f"{group}: {len(set(people))} people, {len(vectors)} faces, {int(low.sum())} low quality")
    tables.append(fpir_table(np.concatenate(curves_all), np.concatenate(weights_all), N_GRID))
    groups.append(LOW_QUALITY_GROUP)
    return groups, np.stack(tables), alike + [None]


def as_shipped(embeddings: np.ndarray) -> np.ndarray:
    """The cohort as load_cohort reads it back (float16, unit rows)."""
    vectors = embeddings.astype(np.float16).astype(np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=os.environ.get("FACEREC_SHARED", "../shared"))
    parser.add_argument("--cache", type=Path, default=None, help="An embeddings file to reuse (written if missing).")
    parser.add_argument("--calibrate-on", choices=["quarter", "all"], default="all",
                        help="The calibration quarter of the people, or every non-cohort person (shipped).")
    args = parser.parse_args()
    os.environ.setdefault("FACEREC_WEIGHTS_DIR", str(Path(args.shared) / "weights"))
    recognizer = FaceRecognizer()
    shared = embed_shared(recognizer, Path(args.shared) / "data", args.cache)
    in_cohort = shared["detected"] & (shared["role"] == "cohort")
    cohort = shared["embedding"][in_cohort]
    _, owners = np.unique(np.char.add(shared["set"][in_cohort], shared["person"][in_cohort]), return_inverse=True)
    stats = Cohort(as_shipped(cohort), owners, K, T_GRID, N_GRID, (), np.zeros((0, len(N_GRID), len(T_GRID))),
                   "").stats
    calibrate_on = shared["role"] != "cohort" if args.calibrate_on == "all" else shared["role"] == "calibration"
    groups, table, alike = calibration_tables(shared, stats, calibrate_on, lambda line: print(line, flush=True))
    _, record = cohort_files(recognizer.weights)
    roles = np.where(calibrate_on, "calibration", shared["role"])
    people = {r: sorted({f"{s}/{p}" for s, p, rr in zip(shared["set"], shared["person"], roles) if rr == r})
              for r in ("cohort", "calibration")}
    # The record ships: who the cohort is, and the FPIR tables (aggregate rates). The cohort's embeddings are
    # face data and do not ship: facerec.cohort.prepare_cohort makes them on each machine from the photos.
    record.write_text(json.dumps({
        "weights_sha256": recognizer.weights.sha256, "k": K,
        "command": "python scripts/build_cohort.py --shared ../shared", "faces": len(cohort), "groups": groups,
        "cohort_people": people["cohort"], "calibration_people": people["calibration"],
        "photo_folders": {name: folder for name, (folder, _) in SETS.items()},  # where prepare_cohort finds them
        "embedded_at_build": _embedded_by(recognizer),
        "homogeneity": [None if h is None else round(h, 6) for h in alike],
        "t_grid": [round(float(t), 6) for t in T_GRID], "n_grid": [int(n) for n in N_GRID],
        "table": [[[float(f"{v:.9g}") for v in row] for row in group] for group in table.astype(np.float64)],
    }, separators=(",", ":")) + "\n")
    print(f"{record}: {len(cohort)} cohort faces of {len(people['cohort'])} people; "
          f"{len(people['calibration'])} calibration people")


if __name__ == "__main__":
    main()
