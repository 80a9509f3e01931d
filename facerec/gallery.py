"""Face-level gallery: enroll people from photos, identify faces, open set.

Joins :class:`~facerec.recognizer.FaceRecognizer` (images to embeddings) with
:class:`enrollment.Gallery` (SQL store plus a vector store: FAISS by default, or Milvus).

>>> gallery = Gallery()  # doctest: +SKIP
>>> gallery.enroll("Ada", ["ada.jpg"])  # doctest: +SKIP
>>> gallery.identify("someone.jpg")[0].name  # doctest: +SKIP
'Ada'
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from enrollment import Candidate, EnrollResult, IdentitySummary, NewFace, read_info
from enrollment import Gallery as Store
from enrollment.names import check_name
from enrollment.store import sqlite_path
from facerec.checks import check_threshold, check_top_k, path_text
from facerec.cohort import Cohort, cohort_for
from facerec.crops import AlignedBatch
from facerec.detection import Face
from facerec.embedding_space import check_space, embedding_space, missing
from facerec.errors import DuplicateFaceError, FaceRecError
from facerec.fileio import checked, shown_path
from facerec.gallery_location import db_url, default_db_url, default_vectors
from facerec.gallery_location import default_index_path as default_index_path  # re-exported, as before
from facerec.gallery_location import in_memory as in_memory
from facerec.io import IMAGE_SUFFIXES, ImageInput, describe
from facerec.open_set import FAR, FPIR, GalleryOpenSet, OpenSetCalibration, check_fpir
from facerec.quality import FaceQuality, LowQualityError, assess_faces, refuse_low_quality
from facerec.recognizer import FaceRecognizer
from index import IndexKind

__all__ = ["Gallery", "Identification", "EnrollReport", "db_url", "default_db_url", "default_vectors",
           "IMAGE_SUFFIXES", "list_photos"]

_CROPS = "crops"  # the gallery setting that says how its faces were embedded: its key (facerec.embedding_space)


@dataclass(frozen=True)
class Identification:
    """One face in the probe photo and who it is: ``name`` is None when not recognised, ``reason`` says why.

    ``score`` is the decision score, compared with ``threshold``: cohort-normalised where the gallery
    normalises (``score_kind`` "as-norm", see :mod:`facerec.cohort`), else the cosine. ``raw_score`` is the
    best candidate's cosine; ``candidates`` come by decision score (``candidate_scores``), each with its
    cosine as ``score``. ``quality`` is the probe face's (:mod:`facerec.quality`).
    """

    face: Face
    name: str | None
    score: float
    threshold: float
    candidates: list[Candidate] = field(default_factory=list)
    raw_score: float = float("-inf")
    candidate_scores: list[float] = field(default_factory=list)
    quality: FaceQuality | None = None
    reason: str | None = None  # why not recognised (None when recognised)
    score_kind: str = "cosine"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "recognized": self.name is not None, "score": round(self.score, 6),
            "threshold": round(self.threshold, 6), "score_kind": self.score_kind,
            "raw_score": round(self.raw_score, 6),
            "normalized_score": round(self.score, 6) if self.score_kind != "cosine" else None,
            "reason": self.reason, "quality": self.quality.to_dict() if self.quality is not None else None,
            "face": self.face.to_dict(),
            "candidates": [{"name": c.name, "score": round(s, 6), "raw_score": round(c.score, 6)} for c, s in
                           zip(self.candidates, self.candidate_scores or [c.score for c in self.candidates])],
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
    rate near ``fpir`` (and no comparison accepted at a false-accept rate above ``far``, verify's, so that
    ``verify`` and a one-person gallery agree): the model's size-aware threshold (the more people enrolled,
    the more chances a stranger has to resemble one of them; see ``Weights.open_set_threshold``), raised to the
    gallery's own impostor tail when that is stricter (see :mod:`facerec.open_set`). It is stored in the gallery
    with how it was chosen, and recomputed when the gallery has changed; read back, it is used only where it
    agrees with what it is derived from (:class:`~facerec.open_set.GalleryOpenSet`). ``fpir`` must lie strictly
    between 0 and 1 (:class:`~facerec.open_set.OpenSetError` otherwise).

    One gallery may be shared by threads (a web service): detection and embedding run in
    parallel, while reads and changes of the store and its index take turns under a lock.

    ``vectors`` picks the vector store: a FAISS file (``index_path`` says the same) or a Milvus URI,
    ``milvus:///path/faces.db`` (Milvus Lite, embedded) or ``http://host:19530`` (a server); the
    default is ``$FACEREC_VECTORS``, else a FAISS file beside the database (in memory for an in-memory
    database). ``write_index=False`` opens it for reading: the index file is never created or replaced (see
    :class:`enrollment.Gallery`).
    """

    def __init__(
        self, recognizer: FaceRecognizer | None = None, *, db: str | Path | None = None,
        index_path: str | Path | None = None, threshold: float | None = None, index_kind: IndexKind | None = None,
        fpir: float = FPIR, vectors: str | None = None, normalize: bool = True, write_index: bool = True,
        far: float = FAR,
    ) -> None:
        threshold = None if threshold is None else check_threshold(threshold)
        fpir, self.far = check_fpir(fpir), check_fpir(far, "far")  # before any model is loaded
        self.recognizer = recognizer or FaceRecognizer()
        self.url = db_url(db) if db else default_db_url()
        self._vectors = vectors or (str(index_path) if index_path else default_vectors(self.url))
        self._index_kind = index_kind  # None: the kind kept with the gallery (see enrollment.Gallery)
        self._write_index = write_index  # False: for reading, the index file is never created or replaced
        self._store: Store | None = None
        self.fixed_threshold, self.fpir = threshold, fpir
        self.lock = threading.RLock()  # the FAISS index is not safe to search while it changes
        #: The model's score-normalisation cohort (None: plain cosine, as with a fixed ``threshold``), and why a
        #: calibration of the model is not used here (made in another embedding space), said once on first use.
        self.cohort: Cohort | None = None
        self._cohort_notice: str | None = None
        if normalize and threshold is None:
            space = embedding_space(self.recognizer, self.recognizer.even_light)
            self.cohort, self._cohort_notice = cohort_for(self.recognizer.weights, space)
        self._open_set: GalleryOpenSet | None = None  # made when the store is first opened (see open_set)
        self._even_light: bool | None = None  # as recorded with the gallery (None: not read or not recorded yet)
        self._space: dict[str, Any] | None = None  # the embedding-space key recorded with it, once read whole
        self._told_unrecorded = False
        # An existing gallery is opened (and checked) now; a new one is made only when something is written,
        # so an enrollment that fails (no face, unreadable photo) leaves nothing behind, and no file is ever
        # deleted to undo one. read_info refuses a file that is not a database or is another program's.
        if read_info(self.url) is not None:
            self.store  # noqa: B018

    @property
    def store(self) -> Store:
        """The database and vector store, opened on first use."""
        if self._store is None:
            with self.lock:
                if self._store is None:
                    database = sqlite_path(self.url)
                    if database is not None:
                        database.parent.mkdir(parents=True, exist_ok=True)
                    self._store = Store(self.url, model=self.recognizer.model_key,
                                        dim=self.recognizer.weights.embedding_size, vectors=self._vectors,
                                        index_kind=self._index_kind, save_interval=5.0,
                                        write_index=self._write_index)
        return self._store

    @property
    def even_light(self) -> bool:
        """Whether this gallery's faces are embedded with strong side light evened out
        (:mod:`facerec.illumination`), as every face compared with them then is: as recorded with the gallery;
        False for one made before that was recorded (its faces were embedded as they were); a new, empty
        gallery follows its recognizer until its first face is written."""
        if self._even_light is None:
            with self.lock:
                if self._store is None and read_info(self.url) is None:
                    return self.recognizer.even_light
                store = self.store.store
                saved = store.setting(_CROPS)
                if saved is not None:
                    self._even_light = bool(saved[0].get("even_light"))
                elif store.count_faces() > 0:
                    self._even_light = False
                else:
                    return self.recognizer.even_light
        return self._even_light

    def record_crops(self, even_light: bool | None = None) -> None:
        """Before a face is written: check that this recognizer embeds as the gallery's faces were
        (:meth:`check_space`), and before the first one keep how they are embedded (the embedding-space key of
        :mod:`facerec.embedding_space`, with ``even_light``, default :attr:`even_light`) with the gallery. Every
        write made through this class does it; call it before writing faces to :attr:`store` directly (bulk
        enrollment)."""
        if even_light is None:
            even_light = self.even_light
        if self._space is not None:
            return
        self.check_space("these photos would be embedded")
        store = self.store.store
        saved = store.setting(_CROPS)
        if (saved is None or missing(saved[0])) and store.count_faces() == 0:  # new, or old and empty: its key now
            space = embedding_space(self.recognizer, even_light)
            store.put_own_setting(_CROPS, space)
            self._space, self._even_light = space, even_light
        elif saved is not None and not missing(saved[0]):
            self._space = saved[0]

    def check_space(self, what: str = "this probe was embedded") -> None:
        """Raise :class:`~facerec.embedding_space.EmbeddingSpaceError`, naming each setting that differs, when
        this gallery's recognizer embeds otherwise than its faces were (precision, flip, landmarks...: see
        :mod:`facerec.embedding_space`); a gallery made before its key was recorded is told so plainly, once (a
        :class:`~enrollment.errors.GalleryWarning`), and scored as it is. A new gallery takes the recognizer's."""
        if self._space is not None:
            recorded = self._space
        else:
            with self.lock:
                if self._store is None and read_info(self.url) is None:
                    return
                saved = self.store.store.setting(_CROPS)
                recorded = saved[0] if saved is not None else {}
                if not missing(recorded):
                    self._space = recorded
        check_space(recorded, embedding_space(self.recognizer, self.even_light), what=what)
        if missing(recorded) and not self._told_unrecorded and self.store.store.count_faces() > 0:
            from enrollment.errors import GalleryWarning

            self._told_unrecorded = True
            warnings.warn(GalleryWarning(
                "this gallery's embedding settings were not recorded (it was made before they were): whether a "
                "probe is embedded as its faces were (precision, flip, landmarks) cannot be checked; enroll into a "
                "new gallery to have it checked"), stacklevel=3)

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """Embeddings of aligned crops as this gallery's faces are embedded (see :attr:`even_light`)."""
        return self.recognizer.embed_crops(crops, even_light=self.even_light)

    @property
    def opened(self) -> bool:
        """Whether the database has been opened (a new SQLite gallery is made on its first write)."""
        return self._store is not None

    @property
    def index_error(self) -> str | None:
        """Why the vector store's file could not be written at the last change, which is in the database
        all the same and reaches the file on a later open; None when it was written."""
        return self._store.index_error if self._store is not None else None

    @property
    def threshold(self) -> float:
        """The open-set threshold now: the one given, or the gallery's calibrated one."""
        if self.fixed_threshold is not None:
            return self.fixed_threshold
        return self.calibration().threshold

    def calibration(self) -> OpenSetCalibration:
        """How the self-calibrating threshold was chosen. Every change made through this class stores it in
        the gallery; reading never writes: one that is stale (the gallery was changed by another program, or
        ``fpir`` or the model's tail differ) is recomputed in memory, not stored."""
        with self.lock:
            return self._calibration(save=False)

    def refresh(self) -> None:
        """After a change: store the enrolled faces' cohort statistics and the open-set calibration, so that
        reads find them current (reads never write them). Every change made through this class does it; call
        it after writing to :attr:`store` directly (bulk enrollment)."""
        with self.lock:
            self._calibration(save=True)

    @property
    def fpir(self) -> float:
        """The fraction of strangers the calibrated threshold may let through: strictly between 0 and 1."""
        return self._fpir

    @fpir.setter
    def fpir(self, value: float) -> None:
        self._fpir = check_fpir(value)
        self._open_set = None  # calibrated again for it

    @property
    def open_set(self) -> GalleryOpenSet:
        """The gallery's open-set decision (:class:`facerec.open_set.GalleryOpenSet`): decision scores and the
        calibrated threshold; opens the gallery."""
        if self._open_set is None:
            with self.lock:
                if self._open_set is None:
                    if self._cohort_notice is not None:
                        from enrollment.errors import GalleryWarning

                        warnings.warn(GalleryWarning(self._cohort_notice), stacklevel=3)
                    self._open_set = GalleryOpenSet(self.store, self.recognizer.weights, self.cohort, self.fpir,
                                                    far=self.far)
        return self._open_set

    def use_cohort(self, cohort: Cohort | None) -> None:
        """Decide with ``cohort`` (e.g. a calibration being measured, :mod:`facerec.calibration`) from now on."""
        with self.lock:
            self.cohort, self._cohort_notice, self._open_set = cohort, None, None

    def _calibration(self, *, save: bool) -> OpenSetCalibration:
        return self.open_set.calibration(save=save)

    def _put_cohort_stats(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        self.open_set.put_cohort_stats(ids, vectors)

    def _scores(self, vectors: np.ndarray, found: list[list[Candidate]]) -> list[list[float]]:
        """The decision score of each candidate (see :meth:`GalleryOpenSet.scores`). Call under the lock."""
        return self.open_set.scores(vectors, found)

    @property
    def duplicate_threshold(self) -> float:
        """Above it a new face counts as another enrolled person's: the open-set threshold, and at least
        the far end of the model's calibrated impostor tail (FAR 1e-6 on LFW), because refusing a new
        person is costlier than missing a duplicate."""
        tail = self.recognizer.weights.impostor_tail
        if self.fixed_threshold is not None:
            base = self.fixed_threshold
        else:  # a cosine threshold: the duplicate check compares cosines
            calibration = self.calibration()
            base = calibration.cosine_threshold if calibration.cosine_threshold is not None else calibration.threshold
        return max(base, tail[-1][1] if tail else self.recognizer.weights.identify_threshold)

    def enroll(self, name: str, images: Sequence[ImageInput] | ImageInput, *, require_single: bool = False,
               info: dict[str, Any] | None = None, save: bool = True, allow_duplicate: bool = False,
               allow_low_quality: bool = False) -> EnrollResult:
        """Enroll ``name`` from one or more photos (largest face of each) in one transaction.

        ``images`` is a list of photos (paths, bytes, PIL images or pixel arrays); one photo given alone (a
        path, bytes, an image or one ``HxW``/``HxWxC`` array) is taken as a list of one. ``name`` follows
        :func:`enrollment.names.check_name` (NFC, stripped, 1 to 255 characters, no control or invisible
        characters, no slashes); a bad name or no photo raises a :class:`FaceRecError` before any work.
        Any unreadable photo or photo without a face aborts the whole enrollment. When another
        enrolled person matches the new faces (with several photos, their mean best score) at the
        :attr:`duplicate_threshold`, :class:`DuplicateFaceError` is raised, unless ``allow_duplicate``. A
        low-quality face (see :mod:`facerec.quality`) raises :class:`~facerec.quality.LowQualityError`, unless
        ``allow_low_quality``.
        """
        name, images = check_name(name), _photo_list(images)
        self.check_space("these photos would be embedded")  # before any work
        aligned = self.recognizer.align(images, fallback=None, require_single=require_single)
        if not allow_low_quality:
            for image, quality in zip(images, assess_faces(aligned.faces, aligned.crops)):
                if quality.low:
                    raise LowQualityError(describe(image), quality)
        even = self.even_light
        faces = [face for face in self._new_faces(images, aligned, even) if face is not None]  # none is None
        with self.lock:
            if not allow_duplicate:
                self._check_duplicate(name, faces)
            self.record_crops(even)
            result = self.store.enroll(name, faces, info=info, save=save)
            self._after_commit(name, result, refresh=True)
            return result

    def _after_commit(self, name: str, result: EnrollResult, *, refresh: bool) -> None:
        """Store the new faces' cohort statistics (and the calibration): ``name`` is already committed, so a
        failure here is a warning, never an error that would say the enrollment failed. Both are derived
        data: reads compute missing statistics, and a stale calibration is recomputed on the next open."""
        from sqlalchemy.exc import SQLAlchemyError

        from enrollment.errors import GalleryWarning

        try:
            self._put_cohort_stats(result.added_ids, result.added_vectors)
            if refresh:
                self.refresh()
        except (FaceRecError, SQLAlchemyError, OSError) as exc:
            warnings.warn(GalleryWarning(
                f"{name} is enrolled, but storing derived data after it failed ({' '.join(str(exc).split())[:200]}): "
                "it is recomputed when needed"), stacklevel=3)

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
                   allow_duplicate: bool = False, allow_low_quality: bool = False) -> EnrollReport:
        """Enroll every ``folder/<Name>/*`` photo, or, in a folder without sub-folders, every
        ``folder/<Name>.jpg`` (one person per file stem, face_recognition's habit); bad files are
        reported and skipped.

        Photos are decoded and detected in a background thread while the previous batch is
        embedded. Each person is one transaction, so an interruption never leaves anyone
        half-enrolled.
        """
        from facerec.progress import tqdm

        report = EnrollReport()
        photos = list_photos(Path(folder), report)
        self.check_space("these photos would be embedded")  # before any work
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
                self.record_crops(even)
                result = self.store.enroll(name, faces, save=False)
                self._after_commit(name, result, refresh=False)
                report.already_enrolled += result.skipped
                if result.added_ids:
                    report.added[name] = len(result.added_ids)

        paths = [path for _, path in photos]
        even = self.even_light
        with tqdm(total=len(paths), unit="photo", disable=not progress, desc="enrolling") as bar:
            for start, aligned in self.recognizer.iter_aligned(paths, fallback=None, require_single=require_single,
                                                              collect_errors=True):
                chunk = photos[start : start + len(aligned.crops)]
                for (_, path), error in zip(chunk, aligned.errors):
                    if error is not None:
                        report.failed.append((path_text(path), path_text(error)))
                if not allow_low_quality:  # a low-quality photo is reported and skipped, as a failed one is
                    names = [path_text(path) for _, path in chunk]
                    for i, refused in refuse_low_quality(aligned.faces, aligned.crops, aligned.errors, names):
                        report.failed.append((names[i], refused))
                for (name, _), face in zip(chunk, self._new_faces([p for _, p in chunk], aligned, even)):
                    if face is not None:
                        for done in [n for n in pending if n != name]:  # photos come person by person
                            flush(done)
                        pending.setdefault(name, []).append(face)
                bar.update(len(chunk))
        for name in list(pending):
            flush(name)
        with self.lock:
            if self._store is not None:  # nothing enrolled into a new gallery: nothing to save, no file made
                self._store.save()
                if report.added:
                    self.refresh()
        return report

    def identify(self, image: ImageInput, *, top_k: int = 5, all_faces: bool = False,
                 require_single: bool = False, name: str | None = None) -> list[Identification]:
        """Who is in ``image``: the largest face (or every face), best candidates first (``top_k``, 1 to
        :data:`~facerec.checks.MAX_TOP_K`); ``name`` names the image in errors (an upload's file name)."""
        top_k = check_top_k(top_k)
        self.check_space()  # before any work
        [located] = self.recognizer.locate([image], names=None if name is None else [name], all_faces=all_faces,
                                           require_single=require_single)
        return self.identify_embeddings(located.faces, self.embed_crops(located.crops), top_k,
                                        qualities=assess_faces(located.work_faces, located.crops))

    def identify_embeddings(self, faces: Sequence[Face], vectors: np.ndarray, top_k: int = 5, *,
                            qualities: Sequence[FaceQuality | None] | None = None) -> list[Identification]:
        """:meth:`identify` of faces already embedded; ``qualities`` (:func:`facerec.quality.assess`) hold a
        low-quality face to the stricter threshold."""
        top_k = check_top_k(top_k)
        self.check_space()
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        with self.lock:
            calibration = self.calibration() if self.fixed_threshold is None else None
            found = self.store.search(vectors, max(top_k, 10) if self.cohort is not None else top_k)
            scores = self._scores(vectors, found)
        results = []
        for face, candidates, row, quality in zip(faces, found, scores, qualities or [None] * len(faces)):
            results.append(self._decide(face, candidates, row, quality, calibration, top_k))
        return results

    def _decide(self, face: Face, candidates: list[Candidate], scores: list[float], quality: FaceQuality | None,
                calibration: OpenSetCalibration | None, top_k: int) -> Identification:
        """The one decision rule: the best candidate by decision score, recognised at the threshold (the
        stricter one for a low-quality face)."""
        ranked = sorted(zip(candidates, scores), key=lambda pair: -pair[1])[:top_k]
        low = quality is not None and quality.low
        if calibration is None:  # a fixed threshold: on the cosine
            threshold = float(self.fixed_threshold)  # type: ignore[arg-type]
        elif low and calibration.low_quality_threshold is not None:
            threshold = calibration.low_quality_threshold
        else:
            threshold = calibration.threshold
        kind = calibration.score if calibration is not None else "cosine"
        if not ranked:
            return Identification(face, None, float("-inf"), threshold, [], quality=quality, reason="no one enrolled",
                                  score_kind=kind)
        best, score = ranked[0]
        reason = None
        if score < threshold:
            stricter = low and calibration is not None and score >= calibration.threshold
            reason = "low quality: below the stricter threshold for low-quality faces" if stricter \
                else "below threshold"
        return Identification(face, best.name if reason is None else None, score, threshold,
                              [c for c, _ in ranked], best.score, [s for _, s in ranked], quality, reason, kind)

    def remove(self, name: str) -> int:
        with self.lock:
            removed = self.store.remove(name)
            self.refresh()
            return removed

    def rename(self, old: str, new: str) -> None:
        with self.lock:
            self.store.rename(old, new)
            self.refresh()

    def names(self) -> list[str]:
        return self.store.names()

    def identities(self) -> list[IdentitySummary]:
        return self.store.identities()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def _new_faces(self, images: Sequence[ImageInput], aligned: AlignedBatch,
                   even_light: bool) -> list[NewFace | None]:
        """A face record per aligned image (None where it has an error), embedded in one batch."""
        ok = [i for i, error in enumerate(aligned.errors) if error is None]
        vectors = self.recognizer.embed_crops(aligned.crops[ok], even_light=even_light)
        faces: list[NewFace | None] = [None] * len(images)
        for i, vector in zip(ok, vectors):
            face = aligned.faces[i]
            faces[i] = NewFace(vector, aligned.pixels_sha256[i] or "", source=_source(images[i]),
                               box=face.box if face else None, score=face.score if face else None,
                               detector=face.detector if face else None)
        return faces


def list_photos(folder: Path, report: EnrollReport) -> list[tuple[str, Path]]:
    """``(person, photo)`` in the folder's layout (``<person>/*`` images, or, without sub-folders,
    ``<person>.jpg`` files), recorded in ``report``; other files, and people whose folder or file name is not a
    valid name (see :func:`enrollment.names.check_name`), are reported there."""
    with checked(folder, "folder"):  # a name over 255 bytes, a NUL, permission denied: one line, not a traceback
        return _list_photos(folder, report, shown_path(folder))


def _list_photos(folder: Path, report: EnrollReport, shown: str) -> list[tuple[str, Path]]:
    if not folder.is_dir():
        raise FaceRecError(f"{shown} is not a folder")
    people = sorted(p for p in folder.iterdir() if p.is_dir())
    photos: list[tuple[str, Path]] = []
    if people:
        for person in people:
            if (name := _person(person, report)) is None:
                continue
            for path in sorted(p for p in person.iterdir() if p.is_file()):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    photos.append((name, path))
                else:
                    report.failed.append((path_text(path), "not an image file name"))
        return photos
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FaceRecError(f"{shown} has neither sub-folders (one per person) nor photos named after people")
    report.layout = "files"
    return [(name, path) for path in files if (name := _person(path, report, path.stem)) is not None]


def _person(path: Path, report: EnrollReport, name: str | None = None) -> str | None:
    """The person ``path`` (a folder, or a photo named after them) is of, or None, reported, when the name
    breaks the rule."""
    try:
        return check_name(path.name if name is None else name)
    except FaceRecError as exc:
        report.failed.append((path_text(path), f"not a valid person name: {exc}"))
        return None


def _source(image: ImageInput) -> str | None:
    return path_text(image) if isinstance(image, (str, Path)) else None


def _photo_list(images: Sequence[ImageInput] | ImageInput) -> list[ImageInput]:
    """The photos to enroll as a list: one photo given alone is a list of one; none at all is refused."""
    from PIL import Image

    if isinstance(images, (str, Path, bytes, Image.Image)) or (isinstance(images, np.ndarray) and images.ndim <= 3):
        return [images]
    try:
        photos = list(images)  # type: ignore[arg-type]
    except TypeError:
        raise FaceRecError(f"images must be a list of photos (paths, bytes, PIL images or arrays), "
                           f"got {type(images).__name__}") from None
    if not photos:
        raise FaceRecError("no photo to enroll: give at least one")
    return photos
