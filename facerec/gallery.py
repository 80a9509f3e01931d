"""Face-level gallery: enroll people from photos, identify faces, open set.

Joins :class:`~facerec.recognizer.FaceRecognizer` (images to embeddings) with
:class:`enrollment.Gallery` (SQL store plus a vector store: FAISS by default, or Milvus).

>>> gallery = Gallery()  # doctest: +SKIP
>>> gallery.enroll("Ada", ["ada.jpg"])  # doctest: +SKIP
>>> gallery.identify("someone.jpg")[0].name  # doctest: +SKIP
'Ada'
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from platformdirs import user_data_dir
from sqlalchemy.engine import make_url

from enrollment import Candidate, EnrollResult, IdentitySummary, NewFace
from enrollment import Gallery as Store
from facerec.crops import AlignedBatch
from facerec.detection import Face
from facerec.errors import DuplicateFaceError, FaceRecError
from facerec.io import IMAGE_SUFFIXES, ImageInput
from facerec.open_set import MAX_PROBES, MIN_PEOPLE, OpenSetCalibration, calibrate
from facerec.recognizer import FaceRecognizer
from index import IndexKind

__all__ = ["Gallery", "Identification", "EnrollReport", "db_url", "default_db_url", "default_vectors",
           "IMAGE_SUFFIXES", "list_photos"]

_CALIBRATION = "open_set"  # the gallery setting that holds the open-set calibration


def db_url(db: str | Path) -> str:
    """A SQLAlchemy URL as it is, or a SQLite file path as its URL.

    >>> db_url("postgresql+psycopg2://me@host/faces")
    'postgresql+psycopg2://me@host/faces'
    >>> db_url("/tmp/gallery.db")
    'sqlite:////tmp/gallery.db'
    """
    text = str(db)
    return text if "://" in text else f"sqlite:///{Path(text).expanduser().resolve()}"


def default_db_url() -> str:
    """``$FACEREC_DB``, else a SQLite file in the user data directory."""
    return db_url(os.environ.get("FACEREC_DB") or Path(user_data_dir("facerec")) / "gallery.db")


def default_index_path(url: str) -> Path:
    """Beside a SQLite file; otherwise in the user data directory, named after the URL."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database).with_suffix(".faiss")
    digest = hashlib.sha256(parsed.render_as_string(hide_password=True).encode()).hexdigest()[:12]
    return Path(user_data_dir("facerec")) / f"index-{digest}.faiss"


def default_vectors(url: str) -> str:
    """``$FACEREC_VECTORS`` (a FAISS file or a Milvus URI), else the FAISS file of :func:`default_index_path`."""
    return os.environ.get("FACEREC_VECTORS") or str(default_index_path(url))


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
    duplicates: list[tuple[str, str, float]] = field(default_factory=list)  # (name, matches, score)
    layout: str = "folders"  # "folders": <Name>/*.jpg; "files": <Name>.jpg, one person per file stem

    def to_dict(self) -> dict[str, Any]:
        return {"layout": self.layout, "added": self.added, "faces_added": sum(self.added.values()),
                "already_enrolled": self.already_enrolled,
                "failed": [{"file": f, "error": e} for f, e in self.failed],
                "duplicates": [{"name": n, "matches": m, "score": s} for n, m, s in self.duplicates]}


class Gallery:
    """Identities enrolled from photos, searched by face; open set by ``threshold``.

    Unless a ``threshold`` is given, it calibrates itself to keep the false-positive identification
    rate near ``fpir``: the model's size-aware threshold (the more people enrolled, the more chances a
    stranger has to resemble one of them; see ``Weights.open_set_threshold``), raised to the gallery's
    own impostor tail when that is stricter (see :mod:`facerec.open_set`). It is stored in the gallery
    with how it was chosen, and recomputed when the gallery has changed.

    One gallery may be shared by threads (a web service): detection and embedding run in
    parallel, while reads and changes of the store and its index take turns under a lock.

    ``vectors`` picks the vector store: a FAISS file (``index_path`` says the same) or a Milvus URI,
    ``milvus:///path/faces.db`` (Milvus Lite, embedded) or ``http://host:19530`` (a server); the
    default is ``$FACEREC_VECTORS``, else a FAISS file beside the database.
    """

    def __init__(
        self, recognizer: FaceRecognizer | None = None, *, db: str | Path | None = None,
        index_path: str | Path | None = None, threshold: float | None = None, index_kind: IndexKind = "flat",
        fpir: float = 0.01, vectors: str | None = None,
    ) -> None:
        self.recognizer = recognizer or FaceRecognizer()
        url = db_url(db) if db else default_db_url()
        database = make_url(url).database
        if url.startswith("sqlite:///") and database:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        self.store = Store(
            url, model=self.recognizer.model_key, dim=self.recognizer.weights.embedding_size,
            vectors=vectors or (str(index_path) if index_path else default_vectors(url)), index_kind=index_kind,
            save_interval=5.0,
        )
        self.fixed_threshold, self.fpir = threshold, fpir
        self.lock = threading.RLock()  # the FAISS index is not safe to search while it changes

    @property
    def threshold(self) -> float:
        """The open-set threshold now: the one given, or the gallery's calibrated one."""
        if self.fixed_threshold is not None:
            return self.fixed_threshold
        return self.calibration().threshold

    def calibration(self) -> OpenSetCalibration:
        """How the self-calibrating threshold was chosen: read from the gallery, or recomputed (and
        stored) when people were enrolled or removed since, or ``fpir`` or the model's tail differ."""
        with self.lock:
            return self._calibration()

    def _calibration(self) -> OpenSetCalibration:
        store = self.store.store
        revision = store.revision()
        people = store.count_identities()
        model_threshold = self.recognizer.weights.open_set_threshold(people, self.fpir)
        saved = store.setting(_CALIBRATION)
        if saved is not None and saved[1] == revision:
            try:
                calibration = OpenSetCalibration.from_dict(saved[0])
            except (KeyError, TypeError):  # written by another version: recompute
                calibration = None
            if calibration is not None and calibration.fpir == self.fpir and \
                    abs(calibration.model_threshold - model_threshold) < 1e-6:
                return calibration
        calibration = calibrate(model_threshold, self._impostor_maxima(people), people=people, fpir=self.fpir,
                                revision=revision)
        store.put_setting(_CALIBRATION, calibration.to_dict(), revision)
        return calibration

    def _impostor_maxima(self, people: int) -> np.ndarray:
        """For enrolled faces (all, or a seeded sample of MAX_PROBES), the best score against other people."""
        store = self.store.store
        if people < MIN_PEOPLE:
            return np.zeros(0)
        ids = store.face_ids()
        if len(ids) > MAX_PROBES:
            ids = np.random.default_rng(0).choice(ids, MAX_PROBES, replace=False)
        names, vectors = store.faces(ids.tolist())
        maxima = [next((c.score for c in candidates if c.name != name), -np.inf)
                  for name, candidates in zip(names, self.store.search(vectors, k=2))]
        return np.array(maxima, np.float64)

    @property
    def duplicate_threshold(self) -> float:
        """Above it a new face counts as another enrolled person's: the open-set threshold, and at least
        the far end of the model's calibrated impostor tail (FAR 1e-6 on LFW), because refusing a new
        person is costlier than missing a duplicate."""
        tail = self.recognizer.weights.impostor_tail
        return max(self.threshold, tail[-1][1] if tail else self.recognizer.weights.identify_threshold)

    def enroll(self, name: str, images: Sequence[ImageInput], *, require_single: bool = False,
               info: dict[str, Any] | None = None, save: bool = True, allow_duplicate: bool = False) -> EnrollResult:
        """Enroll ``name`` from one or more photos (largest face of each) in one transaction.

        Any unreadable photo or photo without a face aborts the whole enrollment. When another
        enrolled person matches the new faces (with several photos, their mean best score) at the
        :attr:`duplicate_threshold`, :class:`DuplicateFaceError` is raised, unless ``allow_duplicate``.
        """
        aligned = self.recognizer.align(images, fallback=None, require_single=require_single)
        faces = [face for face in self._new_faces(images, aligned) if face is not None]  # none is None: no errors
        with self.lock:
            if not allow_duplicate:
                self._check_duplicate(name, faces)
            return self.store.enroll(name, faces, info=info, save=save)

    def _check_duplicate(self, name: str, faces: Sequence[NewFace]) -> None:
        """Raise :class:`DuplicateFaceError` when another person matches ``faces``: the mean over the
        faces of that person's best score reaches the threshold (one lookalike photo among many does not)."""
        if not faces or self.store.count_identities() == 0:
            return
        totals: dict[str, float] = {}
        for candidates in self.store.search(np.stack([f.embedding for f in faces]), k=5):
            for candidate in candidates:
                if candidate.name != name:
                    totals[candidate.name] = totals.get(candidate.name, 0.0) + max(candidate.score, 0.0)
        if totals:
            other, total = max(totals.items(), key=lambda item: item[1])
            threshold = self.duplicate_threshold
            if total / len(faces) >= threshold:
                raise DuplicateFaceError(name, other, total / len(faces), threshold)

    def enroll_dir(self, folder: str | Path, *, progress: bool = True, require_single: bool = False,
                   allow_duplicate: bool = False) -> EnrollReport:
        """Enroll every ``folder/<Name>/*`` photo, or, in a folder without sub-folders, every
        ``folder/<Name>.jpg`` (one person per file stem, face_recognition's habit); bad files are
        reported and skipped.

        Photos are decoded and detected in a background thread while the previous batch is
        embedded. Each person is one transaction, so an interruption never leaves anyone
        half-enrolled.
        """
        from tqdm import tqdm

        report = EnrollReport()
        photos = list_photos(Path(folder), report)
        pending: dict[str, list[NewFace]] = {}

        def flush(name: str) -> None:
            with self.lock:
                _flush(name)

        def _flush(name: str) -> None:
            faces = pending.pop(name, [])
            if faces and not allow_duplicate:
                try:
                    self._check_duplicate(name, faces)
                except DuplicateFaceError as exc:
                    report.duplicates.append((name, exc.other, exc.score))
                    return
            if faces:
                result = self.store.enroll(name, faces, save=False)
                report.already_enrolled += result.skipped
                if result.added_ids:
                    report.added[name] = len(result.added_ids)

        paths = [path for _, path in photos]
        with tqdm(total=len(paths), unit="photo", disable=not progress, desc="enrolling") as bar:
            for start, aligned in self.recognizer.iter_aligned(paths, fallback=None, require_single=require_single,
                                                              collect_errors=True):
                chunk = photos[start : start + len(aligned.crops)]
                for (_, path), error in zip(chunk, aligned.errors):
                    if error is not None:
                        report.failed.append((str(path), error))
                for (name, _), face in zip(chunk, self._new_faces([p for _, p in chunk], aligned)):
                    if face is not None:
                        for done in [n for n in pending if n != name]:  # photos come person by person
                            flush(done)
                        pending.setdefault(name, []).append(face)
                bar.update(len(chunk))
        for name in list(pending):
            flush(name)
        with self.lock:
            self.store.save()
        return report

    def identify(self, image: ImageInput, *, top_k: int = 5, all_faces: bool = False,
                 require_single: bool = False) -> list[Identification]:
        """Who is in ``image``: the largest face (or every face), best candidates first."""
        found = self.recognizer.embed(image, all_faces=all_faces, require_single=require_single)
        return self.identify_embeddings([f.face for f in found], np.stack([f.embedding for f in found]), top_k)

    def identify_embeddings(self, faces: Sequence[Face], vectors: np.ndarray, top_k: int = 5) -> list[Identification]:
        with self.lock:
            results, threshold = [], self.threshold
            found = self.store.search(vectors, top_k)
        for face, candidates in zip(faces, found):
            best = candidates[0] if candidates else None
            name = best.name if best is not None and best.score >= threshold else None
            results.append(Identification(face, name, best.score if best else float("-inf"), threshold, candidates))
        return results

    def remove(self, name: str) -> int:
        with self.lock:
            return self.store.remove(name)

    def rename(self, old: str, new: str) -> None:
        with self.lock:
            self.store.rename(old, new)

    def names(self) -> list[str]:
        return self.store.names()

    def identities(self) -> list[IdentitySummary]:
        return self.store.identities()

    def close(self) -> None:
        self.store.close()

    def _new_faces(self, images: Sequence[ImageInput], aligned: AlignedBatch) -> list[NewFace | None]:
        """A face record per aligned image (None where it has an error), embedded in one batch."""
        ok = [i for i, error in enumerate(aligned.errors) if error is None]
        vectors = self.recognizer.embed_crops(aligned.crops[ok])
        faces: list[NewFace | None] = [None] * len(images)
        for i, vector in zip(ok, vectors):
            face = aligned.faces[i]
            faces[i] = NewFace(vector, aligned.pixels_sha256[i] or "", source=_source(images[i]),
                               box=face.box if face else None, score=face.score if face else None,
                               detector=face.detector if face else None)
        return faces


def list_photos(folder: Path, report: EnrollReport) -> list[tuple[str, Path]]:
    """``(person, photo)`` in the folder's layout (``<person>/*`` images, or, without sub-folders,
    ``<person>.jpg`` files), recorded in ``report``; other files are reported there."""
    if not folder.is_dir():
        raise FaceRecError(f"{folder} is not a folder")
    people = sorted(p for p in folder.iterdir() if p.is_dir())
    photos: list[tuple[str, Path]] = []
    if people:
        for person in people:
            for path in sorted(p for p in person.iterdir() if p.is_file()):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    photos.append((person.name, path))
                else:
                    report.failed.append((str(path), "not an image file name"))
        return photos
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FaceRecError(f"{folder} has neither sub-folders (one per person) nor photos named after people")
    report.layout = "files"
    return [(path.stem, path) for path in files]


def _source(image: ImageInput) -> str | None:
    return str(image) if isinstance(image, (str, Path)) else None
