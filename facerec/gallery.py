"""Face-level gallery: enroll people from photos, identify faces, open set.

Joins :class:`~facerec.recognizer.FaceRecognizer` (images to embeddings) with
:class:`enrollment.Gallery` (SQL store plus FAISS index).

>>> gallery = Gallery()  # doctest: +SKIP
>>> gallery.enroll("Ada", ["ada.jpg"])  # doctest: +SKIP
>>> gallery.identify("someone.jpg")[0].name  # doctest: +SKIP
'Ada'
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from platformdirs import user_data_dir
from sqlalchemy.engine import make_url

from enrollment import Candidate, EnrollResult, IdentitySummary, NewFace
from enrollment import Gallery as Store
from facerec.detection import Face
from facerec.errors import FaceRecError
from facerec.io import IMAGE_SUFFIXES, ImageInput, describe
from facerec.recognizer import FaceRecognizer, _check_count

__all__ = ["Gallery", "Identification", "EnrollReport", "default_db_url", "IMAGE_SUFFIXES"]


def default_db_url() -> str:
    """``$FACEREC_DB``, else a SQLite file in the user data directory."""
    env = os.environ.get("FACEREC_DB")
    if env:
        return env if "://" in env else f"sqlite:///{Path(env).expanduser().resolve()}"
    return f"sqlite:///{Path(user_data_dir('facerec')) / 'gallery.db'}"


def default_index_path(url: str) -> Path:
    """Beside a SQLite file; otherwise in the user data directory, named after the URL."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database).with_suffix(".faiss")
    digest = hashlib.sha256(parsed.render_as_string(hide_password=True).encode()).hexdigest()[:12]
    return Path(user_data_dir("facerec")) / f"index-{digest}.faiss"


@dataclass(frozen=True)
class Identification:
    """One face in the probe photo and who it is: ``name`` is None when not recognised."""

    face: Face
    name: str | None
    score: float
    threshold: float
    candidates: list[Candidate] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "recognized": self.name is not None, "score": round(self.score, 6),
            "threshold": round(self.threshold, 6),
            "face": self.face.to_dict(),
            "candidates": [{"name": c.name, "score": round(c.score, 6)} for c in self.candidates],
        }


@dataclass
class EnrollReport:
    """What an enrollment did: faces added and skipped, and the files that failed."""

    added: dict[str, int] = field(default_factory=dict)
    already_enrolled: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "faces_added": sum(self.added.values()),
                "already_enrolled": self.already_enrolled,
                "failed": [{"file": f, "error": e} for f, e in self.failed]}


class Gallery:
    """Identities enrolled from photos, searched by face; open set by ``threshold``.

    Unless a ``threshold`` is given, it follows the gallery's size: the more people enrolled,
    the more chances a stranger has to resemble one of them, so the threshold rises to keep
    the false-positive identification rate near ``fpir`` (see ``Weights.open_set_threshold``).
    """

    def __init__(
        self, recognizer: FaceRecognizer | None = None, *, db: str | None = None,
        index_path: str | Path | None = None, threshold: float | None = None, index_kind: str = "flat",
        fpir: float = 0.01,
    ) -> None:
        self.recognizer = recognizer or FaceRecognizer()
        url = db or default_db_url()
        if url.startswith("sqlite:///"):
            Path(make_url(url).database).parent.mkdir(parents=True, exist_ok=True)
        self.store = Store(
            url, model=self.recognizer.model_key, dim=self.recognizer.weights.embedding_size,
            index_path=Path(index_path) if index_path else default_index_path(url), index_kind=index_kind,
            save_interval=5.0,
        )
        self.fixed_threshold, self.fpir = threshold, fpir

    @property
    def threshold(self) -> float:
        """The open-set threshold now: the one given, or the calibrated one for this many people."""
        if self.fixed_threshold is not None:
            return self.fixed_threshold
        return self.recognizer.weights.open_set_threshold(self.store.count_identities(), self.fpir)

    def enroll(self, name: str, images: Sequence[ImageInput], *, require_single: bool = False,
               info: dict[str, Any] | None = None, save: bool = True) -> EnrollResult:
        """Enroll ``name`` from one or more photos (largest face of each) in one transaction.

        Any unreadable photo or photo without a face aborts the whole enrollment.
        """
        faces = [self._new_face(image, require_single) for image in images]
        return self.store.enroll(name, faces, info=info, save=save)

    def enroll_dir(self, folder: str | Path, *, progress: bool = True, require_single: bool = False) -> EnrollReport:
        """Enroll every ``folder/<Name>/*`` photo; bad files are reported and skipped.

        Each person is one transaction, so an interruption never leaves anyone half-enrolled.
        """
        from tqdm import tqdm

        folder = Path(folder)
        if not folder.is_dir():
            raise FaceRecError(f"{folder} is not a folder")
        people = sorted(p for p in folder.iterdir() if p.is_dir())
        if not people:
            raise FaceRecError(f"{folder} has no sub-folders (expected one folder per person)")
        report = EnrollReport()
        bar = tqdm(people, unit="person", disable=not progress, desc="enrolling")
        for person in bar:
            faces = []
            for path in sorted(p for p in person.iterdir() if p.is_file()):
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    report.failed.append((str(path), "not an image file name"))
                    continue
                try:
                    faces.append(self._new_face(path, require_single))
                except FaceRecError as exc:
                    report.failed.append((str(path), str(exc)))
            if faces:
                result = self.store.enroll(person.name, faces, save=False)
                report.already_enrolled += result.skipped
                if result.added_ids:
                    report.added[person.name] = len(result.added_ids)
        self.store.save()
        return report

    def identify(self, image: ImageInput, *, top_k: int = 5, all_faces: bool = False,
                 require_single: bool = False) -> list[Identification]:
        """Who is in ``image``: the largest face (or every face), best candidates first."""
        found = self.recognizer.embed(image, all_faces=all_faces, require_single=require_single)
        return self.identify_embeddings([f.face for f in found], np.stack([f.embedding for f in found]), top_k)

    def identify_embeddings(self, faces: Sequence[Face], vectors: np.ndarray, top_k: int = 5) -> list[Identification]:
        results, threshold = [], self.threshold
        for face, candidates in zip(faces, self.store.search(vectors, top_k)):
            best = candidates[0] if candidates else None
            known = best is not None and best.score >= threshold
            results.append(Identification(face, best.name if known else None,
                                          best.score if best else float("-inf"), threshold, candidates))
        return results

    def remove(self, name: str) -> int:
        return self.store.remove(name)

    def rename(self, old: str, new: str) -> None:
        self.store.rename(old, new)

    def names(self) -> list[str]:
        return self.store.names()

    def identities(self) -> list[IdentitySummary]:
        return self.store.identities()

    def close(self) -> None:
        self.store.close()

    def _new_face(self, image: ImageInput, require_single: bool) -> NewFace:
        pixels = self.recognizer.load(image)
        faces = self.recognizer.detector.detect([pixels])[0]
        _check_count(describe(image), faces, require_single)
        vector = self.recognizer.embed_faces(pixels, faces[:1])[0]
        return NewFace(vector, hashlib.sha256(pixels.tobytes()).hexdigest(), source=_source(image),
                       box=faces[0].box, score=faces[0].score)


def _source(image: ImageInput) -> str | None:
    return str(image) if isinstance(image, (str, Path)) else None
