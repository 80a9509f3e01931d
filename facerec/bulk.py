"""Bulk enrollment on Ray: decoding, detection and embedding as a Ray Data pipeline, one model per actor.

The driver lists ``folder/<Name>/*`` photos, the actors (``workers`` of them, on a local Ray or the
cluster at ``address``) each hold one :class:`~facerec.recognizer.FaceRecognizer`, decode their photos,
skip those whose pixels' sha256 is already enrolled for that person, and detect, align and embed the
rest. The driver writes the faces in batched transactions. A job killed at any point is finished
by running it again: what was committed is skipped, nothing is enrolled twice.

Ray is imported only here, and only when ``--ray`` is asked for.

>>> report = bulk_enroll(gallery, "people/", recipe=PipelineConfig())  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from enrollment import NewFace
from facerec.config import PipelineConfig
from facerec.errors import FaceRecError
from facerec.gallery import EnrollReport, Gallery, list_photos
from facerec.io import DecodedImage

__all__ = ["bulk_enroll", "EmbedActor", "import_ray", "pipeline"]

#: Environment variables the actors need (weights, threads, caches), passed on to them.
FORWARDED_ENV = ("FACEREC_WEIGHTS_DIR", "FACEREC_THREADS", "FACEREC_OFFLINE", "FACEREC_CACHE_DIR")


def import_ray() -> Any:
    """The ``ray`` module, or a clear error naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data is the part we use
    except ImportError as exc:
        raise FaceRecError(f"--ray needs the ray extra: pip install 'facerec[ray]' ({exc})") from None
    return ray


class EmbedActor:
    """One recognizer per actor: a batch of photos in, one row per photo out (its face, or why not)."""

    def __init__(self, recipe: PipelineConfig | Mapping[str, Any], enrolled: dict[str, set[str]],
                 require_single: bool, allow_low_quality: bool = False) -> None:
        from facerec.recognizer import build_recognizer

        self.recognizer = build_recognizer(pipeline(recipe))
        self.enrolled, self.require_single = enrolled, require_single
        self.allow_low_quality = allow_low_quality

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        count = len(batch["path"])
        sha = [""] * count
        errors: list[str] = [""] * count
        skipped = np.zeros(count, bool)
        pixels: dict[int, DecodedImage] = {}  # large photos downscaled; boxes come back in their pixels
        for i, (name, path) in enumerate(zip(batch["name"], batch["path"])):
            try:
                loaded = self.recognizer.decode(str(path))
            except FaceRecError as exc:
                errors[i] = str(exc)
                continue
            sha[i] = hashlib.sha256(loaded.pixels.tobytes()).hexdigest()  # as FaceRecognizer.align records it
            if sha[i] in self.enrolled.get(str(name), ()):
                skipped[i] = True
            else:
                pixels[i] = loaded
        rows = list(pixels)
        dim = self.recognizer.weights.embedding_size
        embeddings = np.zeros((count, dim), np.float32)
        boxes = np.zeros((count, 4), np.float32)
        scores = np.zeros(count, np.float32)
        detectors = [""] * count
        if rows:
            aligned = self.recognizer.align([pixels[i] for i in rows], fallback=None,
                                            require_single=self.require_single, collect_errors=True,
                                            names=[str(batch["path"][i]) for i in rows])  # errors name the file
            if not self.allow_low_quality:  # as enroll --from-dir: a low-quality photo is reported and skipped
                from facerec.quality import refuse_low_quality

                refuse_low_quality(aligned.faces, aligned.crops, aligned.errors, [str(batch["path"][i]) for i in rows])
            ok = [n for n, error in enumerate(aligned.errors) if error is None]
            vectors = self.recognizer.embed_crops(aligned.crops[ok])
            for n, error in enumerate(aligned.errors):
                if error is not None:
                    errors[rows[n]] = error
            for n, vector in zip(ok, vectors):
                face = aligned.faces[n]
                i = rows[n]
                embeddings[i] = vector
                if face is not None:
                    boxes[i], scores[i], detectors[i] = face.box, face.score, face.detector or ""
        return {"name": batch["name"], "path": batch["path"], "sha256": np.array(sha), "skipped": skipped,
                "error": np.array(errors), "embedding": embeddings, "box": boxes, "score": scores,
                "detector": np.array(detectors)}


def pipeline(recipe: PipelineConfig | Mapping[str, Any]) -> PipelineConfig:
    """``recipe`` as a :class:`~facerec.config.PipelineConfig` (a mapping is read as its fields)."""
    return recipe if isinstance(recipe, PipelineConfig) else PipelineConfig.from_dict(recipe)


def bulk_enroll(gallery: Gallery, folder: str | Path, *, recipe: PipelineConfig | Mapping[str, Any],
                address: str | None = None,
                workers: int = 1, batch_size: int = 16, write_batch: int = 256, require_single: bool = False,
                allow_low_quality: bool = False, progress: bool = True) -> EnrollReport:
    """Enroll every ``folder/<Name>/*`` photo with ``workers`` Ray actors; resumable (see the module).

    ``recipe`` is the :class:`~facerec.config.PipelineConfig` (or its fields) each actor builds its recognizer
    from, with :func:`~facerec.recognizer.build_recognizer`, as the CLI and the service do. Faces are committed
    ``write_batch`` at a time, each batch one transaction. Unlike ``enroll --from-dir``, no check against
    other enrolled people (``--allow-duplicate``) is made.
    """
    from facerec.progress import tqdm

    # checked here, in the driver, not in each actor; the faces are embedded as the gallery's are
    config = pipeline(recipe).with_(even_light=gallery.even_light)
    ray = import_ray()
    report = EnrollReport()
    photos = list_photos(Path(folder), report)
    enrolled = gallery.store.store.enrolled_images()
    _start_ray(ray, address)
    try:
        dataset = ray.data.from_items([{"name": name, "path": str(path)} for name, path in photos])
        with warnings.catch_warnings():  # max_restarts has no named parameter yet: Ray warns of the old form
            warnings.simplefilter("ignore", DeprecationWarning)
            embedded = dataset.map_batches(
                EmbedActor, batch_size=batch_size, batch_format="numpy", num_cpus=1,
                compute=ray.data.ActorPoolStrategy(size=workers),
                # a crashed actor is not restarted (a rerun resumes the job), and Ray has no restart to warn about
                max_restarts=0,
                fn_constructor_kwargs={"recipe": config, "enrolled": enrolled, "require_single": require_single,
                                       "allow_low_quality": allow_low_quality})
        pending: list[tuple[str, NewFace]] = []
        with tqdm(total=len(photos), unit="photo", disable=not progress, desc="enrolling (ray)") as bar:
            for batch in embedded.iter_batches(batch_size=batch_size, batch_format="numpy"):
                for row in _rows(batch):
                    if row["skipped"]:
                        report.already_enrolled += 1
                    elif row["error"]:
                        report.failed.append((row["path"], row["error"]))
                    else:
                        pending.append((row["name"], NewFace(
                            row["embedding"], row["sha256"], source=row["path"], box=tuple(row["box"]),
                            score=float(row["score"]), detector=row["detector"] or None)))
                    bar.update(1)
                if len(pending) >= write_batch:
                    _write(gallery, pending, report)
                    pending = []
        _write(gallery, pending, report)
    finally:
        gallery.store.save()
        if address is None:
            ray.shutdown()
    if report.added:
        gallery.refresh()  # cohort statistics and the open-set calibration, stored for the reads to come
    return report


def _start_ray(ray: Any, address: str | None) -> None:
    """Join the cluster at ``address``, or start a local Ray whose workers import this facerec."""
    env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
    if address is None:  # local workers find facerec where the driver found it
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                          os.environ.get("PYTHONPATH")]))
    _quiet_ray()
    ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
             logging_level=logging.ERROR, runtime_env={"env_vars": env})
    _quiet_ray()  # ray.init sets its loggers up again
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False


def _quiet_ray() -> None:
    """Keep Ray's own chatter out of facerec's output: its INFO lines (execution plans, where its logs are),
    its notices (token authentication, progress bars off) go to Ray's session logs under /tmp/ray only;
    errors still show. facerec prints its own progress and summary."""
    for name in ("ray", "ray.data", "ray._private", "ray.util", "ray._common"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _rows(batch: dict[str, np.ndarray]) -> Iterator[dict[str, Any]]:
    for i in range(len(batch["path"])):
        yield {key: value[i].item() if isinstance(value[i], np.generic) else value[i] for key, value in batch.items()}


def _write(gallery: Gallery, faces: list[tuple[str, NewFace]], report: EnrollReport) -> None:
    if not faces:
        return
    gallery.record_crops()
    result = gallery.store.enroll_many(faces, save=False)
    report.already_enrolled += result.skipped
    for name in result.added_names:
        report.added[name] = report.added.get(name, 0) + 1
