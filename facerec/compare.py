"""Folder against folder: for each unknown photo, the best-matching known person (face_recognition's
``face_recognition known/ unknown/`` habit).

Known people are either sub-folders (``known/Ada/*.jpg``) or single photos named after the person
(``known/Ada.jpg``). Each known person is scored by their best photo; the answer is that person when
the score reaches the threshold, else nobody. By default scores are cohort-normalised and the threshold is
the one ``Gallery.identify`` uses for that many known people (see :mod:`facerec.cohort`: the cohort's FPIR
table, or the known people's own normalised impostor tail where stricter); a ``threshold`` given is a plain
cosine threshold, as is the default for a model without a cohort.

>>> rows = compare_folders(FaceRecognizer(), "known/", "unknown/")  # doctest: +SKIP
>>> rows[0].person, round(rows[0].score, 2)  # doctest: +SKIP
('Ada', 0.71)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facerec.cohort import as_norm, homogeneity, load_cohort, own_scores
from facerec.embed_files import find_photos
from facerec.errors import FaceRecError
from facerec.io import IMAGE_SUFFIXES
from facerec.open_set import FPIR, MIN_PEOPLE, calibrate
from facerec.recognizer import FaceRecognizer

__all__ = ["CompareRow", "known_people", "compare_folders"]


@dataclass(frozen=True)
class CompareRow:
    path: str
    person: str | None  # None: nobody known (or no usable face, see ``error``)
    score: float | None  # the best known person's score, match or not
    best: str | None  # the best known person, even below the threshold
    threshold: float
    error: str | None = None
    raw_score: float | None = None  # the best known person's cosine (``score`` is normalised with "as-norm")
    score_kind: str = "cosine"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def known_people(folder: str | Path) -> dict[str, list[Path]]:
    """Person name -> photos: sub-folders by name, and loose photos named after the person."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FaceRecError(f"{folder} is not a folder")
    people: dict[str, list[Path]] = {}
    for item in sorted(folder.iterdir()):
        if item.is_dir():
            photos = find_photos([item])
            if photos:
                people[item.name] = photos
        elif item.suffix.lower() in IMAGE_SUFFIXES:
            people.setdefault(item.stem, []).append(item)
    if not people:
        raise FaceRecError(f"{folder} has no known people (expected photos or one sub-folder of photos per person)")
    return people


def compare_folders(recognizer: FaceRecognizer, known: str | Path, unknown: str | Path, *,
                    threshold: float | None = None, progress: bool = False) -> list[CompareRow]:
    """The best known person for each photo under ``unknown`` (largest face each)."""
    people = known_people(known)
    names = [name for name, photos in people.items() for _ in photos]
    paths = [photo for photos in people.values() for photo in photos]
    known_vectors, known_errors = _embed(recognizer, paths, progress)  # no errors: every row is a face
    if known_errors:
        path, error = next(iter(known_errors.items()))
        raise FaceRecError(f"known photo {path}: {error}" + (f" (and {len(known_errors) - 1} more)"
                                                            if len(known_errors) > 1 else ""))
    cohort = load_cohort(recognizer.weights) if threshold is None else None
    probes = find_photos([unknown])
    vectors, errors = _embed(recognizer, probes, progress)
    raw = vectors @ known_vectors.T  # a photo with an error has a zero row, and is not scored
    scores, kind = raw, "cosine"
    if cohort is not None:
        known_stats = cohort.stats(known_vectors)
        scores, kind = as_norm(raw, cohort.stats(vectors), known_stats), "as-norm"
        own = own_scores(cohort, known_vectors, names, known_stats)  # each known face against the other people
        maxima = own.max(axis=1) if len(people) >= MIN_PEOPLE else np.zeros(0)
        model = cohort.threshold(len(people), FPIR, homogeneity=homogeneity(own, names))
        threshold = calibrate(model, maxima, people=len(people), fpir=FPIR, revision=0).threshold
    elif threshold is None:
        threshold = recognizer.weights.open_set_threshold(len(people), FPIR)
    rows = []
    for i, probe in enumerate(probes):
        if str(probe) in errors:
            rows.append(CompareRow(str(probe), None, None, None, threshold, errors[str(probe)], score_kind=kind))
            continue
        best = int(np.argmax(scores[i]))
        score = float(scores[i, best])
        rows.append(CompareRow(str(probe), names[best] if score >= threshold else None, score, names[best], threshold,
                               raw_score=float(raw[i, best]), score_kind=kind))
    return rows


def _embed(recognizer: FaceRecognizer, photos: list[Path], progress: bool) -> tuple[np.ndarray, dict[str, str]]:
    """One embedding row per photo (zeros where it has no usable face), and the error of each such photo."""
    embedded = recognizer.embed_images(photos, fallback=False, collect_errors=True, progress=progress)
    errors = {str(photo): error for photo, error in zip(photos, embedded.errors) if error is not None}
    return embedded.embeddings, errors
