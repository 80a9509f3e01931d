"""Build the default model's shipped calibration from the photos of ../shared, as a user's is built.

The same code as ``facerec models calibrate`` (:mod:`facerec.calibration`), pointed at the three labelled sets
of ``../shared/data``, one condition group each: LFW dev ("ordinary photos"), AT&T ("one studio") and Extended
Yale B ("strong side light"). In each set, people sorted by (name length, name) take their role by rank: a
quarter make the cohort (kept as entries that each average five people's faces: no one's face ships), a quarter
calibrate the FPIR tables, and the other half are held out: the record's report (FNIR, FPIR, FAR, TAR with 95%
intervals) is measured on them, and so are the tests that measure open-set rates. The record lists every person
by role. It is written into the package (``facerec/models/embedders/calibration/``) instead of the user's folder.

    python scripts/build_cohort.py --shared ../shared [--plot det.png] [--cache faces.npz]
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from facerec import FaceRecognizer
from facerec.calibration import Embedded, PhotoFolder, build_calibration, condition_tables, det_plot, write_calibration
from facerec.cohort import calibration_files

#: The shared sets: folder under ../shared/data and the condition group it stands for.
#: The shared sets (eval_identify.py's short name of each): folder under ../shared/data, and the condition group
#: it stands for.
SETS = {"lfw": ("lfw_dev/images", "ordinary photos"), "att": ("att_faces", "one studio"),
        "yale": ("yale_b_dev", "strong side light")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=os.environ.get("FACEREC_SHARED", "../shared"))
    parser.add_argument("--plot", type=Path, default=None, help="Draw the held-out DET curves to this PNG.")
    parser.add_argument("--cache", type=Path, default=None, help="The faces' embeddings, reused (written if missing).")
    parser.add_argument("--keep-faces", action="store_true",
                        help="The cohort as faces (to measure what the shipped entries cost; never shipped).")
    parser.add_argument("--out", type=Path, default=None, help="Write here instead of into the package (a folder).")
    args = parser.parse_args()
    os.environ.setdefault("FACEREC_WEIGHTS_DIR", str(Path(args.shared) / "weights"))
    data = Path(args.shared) / "data"
    recognizer = FaceRecognizer()
    embedded = None
    if args.cache is not None and args.cache.is_file():
        with np.load(args.cache) as saved:
            embedded = Embedded(**{f.name: saved[f.name] for f in fields(Embedded)})
    calibration, _, embedded = build_calibration(
        recognizer, [PhotoFolder(data / folder, group) for folder, group in SETS.values()], progress=True,
        command="python scripts/build_cohort.py --shared ../shared", log=lambda line: print(line, flush=True),
        embedded=embedded, keep_faces=args.keep_faces)
    if args.cache is not None and not args.cache.is_file():
        np.savez(args.cache, **{f.name: getattr(embedded, f.name) for f in fields(Embedded)})
    record = calibration_files(recognizer.weights)[-1]
    if args.out is not None:
        record = args.out / record.name
    write_calibration(calibration, record)
    if args.plot:
        det_plot(calibration.report, args.plot)
    print(json.dumps(calibration.record["report"], indent=1))
    print(f"{record}: {calibration.record['cohort_entries']} cohort entries; people by role: "
          + ", ".join(f"{role} {len(names)}" for role, names in calibration.record["people"].items()))


# -- for scripts/eval_identify.py: the three sets as one table of rows, and FPIR tables from any of its rows ----



def embed_shared(recognizer: FaceRecognizer, data: Path, cache: Path | None) -> dict[str, np.ndarray]:
    """Every photo of the three sets: set, person, role (as :func:`facerec.calibration.roles` gives it), path,
    embedding (largest face, else a centre crop), detected, quality score and low flag; read from ``cache`` when
    it holds this model's."""
    from facerec.calibration import people_folders, roles
    from facerec.quality import assess_faces

    made_by = (f"{recognizer.model_key}, {recognizer.precision}, flip {recognizer.flip}, "
               f"even light {recognizer.even_light}")
    if cache is not None and cache.is_file():
        with np.load(cache) as saved:
            if str(saved["model"]) == made_by:
                return {key: saved[key] for key in saved.files}
    rows = []
    for key, (folder, _) in SETS.items():
        people = people_folders(data / folder)
        for (name, photos), role in zip(people, roles(len(people))):
            rows += [(key, name, role, str(photo)) for photo in photos]
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
           "detected": detected, "quality": quality, "low": low, "model": np.array(made_by)}
    if cache is not None:
        np.savez(cache, **out)
    return out


def calibration_tables(shared: dict[str, np.ndarray], stats: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                       calibrate_on: np.ndarray, log: Callable[[str], None] | None = None
                       ) -> tuple[list[str], np.ndarray, list[float | None]]:
    """:func:`facerec.calibration.condition_tables` of the detected rows ``calibrate_on`` (a mask over
    :func:`embed_shared`'s arrays), one group per set, normalised with the cohort statistics ``stats``."""
    keys = list(SETS)
    usable = shared["detected"]
    embedded = Embedded(group=np.array([keys.index(s) for s in shared["set"][usable]]),
                        person=np.char.add(np.char.add(shared["set"][usable], "/"), shared["person"][usable]),
                        role=np.where(calibrate_on[usable], "calibration", "other"),
                        embedding=shared["embedding"][usable], low=shared["low"][usable])
    groups = [SETS[key][1] for key in keys]
    return condition_tables(embedded, groups, SimpleNamespace(stats=stats), log)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
