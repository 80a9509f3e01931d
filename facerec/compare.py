"""Folder against folder: for each unknown photo, the best-matching known person (face_recognition's
``face_recognition known/ unknown/`` habit).

Known people are either sub-folders (``known/Ada/*.jpg``) or single photos named after the person
(``known/Ada.jpg``). They are enrolled into a gallery held in memory (nothing written to disk), and each unknown
photo is identified against it: the same open-set decision as ``facerec identify`` on a gallery of those people
(:class:`~facerec.open_set.GalleryOpenSet`: cohort-normalised scores, the threshold for that many people at
``fpir``, the people's own impostor tail where stricter, and the stricter bar for a low-quality face). A
``threshold`` given is a plain cosine threshold, as with ``identify --threshold``.

>>> rows = compare_folders(FaceRecognizer(), "known/", "unknown/")  # doctest: +SKIP
>>> rows[0].person, round(rows[0].score, 2)  # doctest: +SKIP
('Ada', 0.71)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from enrollment import NewFace
from facerec.embed_files import NoImagesError, find_photos
from facerec.errors import FaceRecError
from facerec.io import IMAGE_SUFFIXES
from facerec.open_set import FPIR
from facerec.recognizer import FaceRecognizer

if TYPE_CHECKING:
    from facerec.gallery import Gallery, Identification

__all__ = ["CompareRow", "known_people", "known_gallery", "compare_folders"]


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
    reason: str | None = None  # why nobody was named (as identify says it: "below threshold", "low quality: ...")

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
                    threshold: float | None = None, fpir: float = FPIR, progress: bool = False) -> list[CompareRow]:
    """The best known person for each photo under ``unknown`` (largest face each), decided as ``identify``
    decides on a gallery of the known people; an ``unknown`` folder without images raises
    :class:`~facerec.embed_files.NoImagesError` before any work."""
    from facerec.progress import tqdm

    probes = find_photos([unknown])
    if not probes:
        raise NoImagesError([unknown])
    gallery = known_gallery(recognizer, known_people(known), threshold=threshold, fpir=fpir)
    rows: list[CompareRow] = []
    try:
        with tqdm(total=len(probes), unit="photo", disable=not progress, desc="comparing") as bar:
            for start in range(0, len(probes), _BATCH):
                rows += _identify(gallery, probes[start : start + _BATCH])
                bar.update(min(_BATCH, len(probes) - start))
    finally:
        gallery.close()
    return rows


_BATCH = 32


def known_gallery(recognizer: FaceRecognizer, people: dict[str, list[Path]], *, threshold: float | None = None,
                  fpir: float = FPIR) -> Gallery:
    """A gallery in memory (database and index: nothing on disk) holding ``people``'s photos, every one of
    which must have a face (else a :class:`FaceRecError` naming it); calibrated as any gallery is."""
    from facerec.gallery import Gallery
    from index import MEMORY

    gallery = Gallery(recognizer, db="sqlite://", vectors=MEMORY, threshold=threshold, fpir=fpir)
    paths = [photo for photos in people.values() for photo in photos]
    aligned = recognizer.align(paths, fallback=None, collect_errors=True)
    errors = [(path, error) for path, error in zip(paths, aligned.errors) if error is not None]
    if errors:
        gallery.close()
        path, error = errors[0]
        raise FaceRecError(f"known photo {path}: {error}" + (f" (and {len(errors) - 1} more)"
                                                            if len(errors) > 1 else ""))
    vectors = gallery.embed_crops(aligned.crops)
    gallery.record_crops()
    row = 0
    for name, photos in people.items():
        faces = [NewFace(vectors[row + i], aligned.pixels_sha256[row + i] or "", source=str(photo))
                 for i, photo in enumerate(photos)]
        row += len(photos)
        result = gallery.store.enroll(name, faces, save=False)
        gallery.open_set.put_cohort_stats(result.added_ids, result.added_vectors)
    gallery.refresh()
    return gallery


def _identify(gallery: Gallery, probes: list[Path]) -> list[CompareRow]:
    """Rows for ``probes``: each identified as :meth:`facerec.Gallery.identify` does (largest face)."""
    from facerec.quality import assess_faces

    located = gallery.recognizer.locate(probes, collect_errors=True)
    ok = [i for i, found in enumerate(located) if found.error is None]
    found: dict[int, Identification] = {}
    if ok:
        crops = np.concatenate([located[i].crops[:1] for i in ok])
        qualities = assess_faces([located[i].work_faces[0] for i in ok], crops)
        answers = gallery.identify_embeddings([located[i].faces[0] for i in ok], gallery.embed_crops(crops), 1,
                                              qualities=qualities)
        found = dict(zip(ok, answers))
    rows = []
    for i, probe in enumerate(probes):
        if i not in found:
            rows.append(CompareRow(str(probe), None, None, None, gallery.threshold, located[i].error))
            continue
        answer = found[i]
        best = answer.candidates[0].name if answer.candidates else None
        score = answer.score if math.isfinite(answer.score) else None
        raw = answer.raw_score if math.isfinite(answer.raw_score) else None
        rows.append(CompareRow(str(probe), answer.name, score, best, answer.threshold, raw_score=raw,
                               score_kind=answer.score_kind, reason=answer.reason))
    return rows
