"""The public face-recognition API: detect, align, embed and verify.

>>> recognizer = FaceRecognizer()  # doctest: +SKIP
>>> result = recognizer.verify("a.jpg", "b.jpg")  # doctest: +SKIP
>>> result.same_person, round(result.similarity, 2)  # doctest: +SKIP
(True, 0.71)
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from facerec.alignment import align_faces
from facerec.checks import check_threshold
from facerec.crops import AlignedBatch, Fallback, Located, align_images, locate_faces
from facerec.crops import in_original_frame as _original
from facerec.detection import Face, Selection
from facerec.errors import FaceRecError, FaceRecWarning, OnnxExportError, PrecisionError, UnknownModelError
from facerec.illumination import even_out
from facerec.io import DEFAULT_MAX_PIXELS, DecodedImage, ImageInput, decode_image
from facerec.models import DEFAULT_DETECTOR, Detector, get_detector, model_file
from facerec.models.detectors import DEFAULT_LANDMARKS, Landmarks, build_detector
from facerec.models.detectors.face_crop import FaceCropDetector
from facerec.models.embedders.int8 import Precision, resolve_precision
from facerec.models.embedders.onnx import OnnxEmbedder
from facerec.open_set import FAR
from facerec.progress import tqdm
from facerec.runtime import Backend, resolve_threads

if TYPE_CHECKING:
    from facerec.cohort import Cohort
    from facerec.config import PipelineConfig
    from facerec.models.embedders.embedder import FaceEmbedder

__all__ = ["FaceRecognizer", "FaceEmbedding", "VerifyResult", "BatchEmbeddings", "CropTransform", "ModelRunError",
           "build_recognizer"]

class ModelRunError(FaceRecError):
    """An embedder's ONNX file that onnxruntime cannot run (an added model whose file does not fit its spec)."""


#: A transform of aligned uint8 crops (``N x S x S x 3``) applied before embedding, e.g. a defence.
CropTransform = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FaceEmbedding:
    """One face and its unit-length embedding."""

    face: Face
    embedding: np.ndarray


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of a 1:1 comparison; ``faces_a``/``faces_b`` count the faces found. ``score`` is what is
    compared with ``threshold``: the cohort-normalised score (``score_kind`` "as-norm") where the model is
    calibrated, else the cosine ``similarity``; ``far`` is the false-accept rate the threshold keeps (None for a
    threshold the caller fixed), and ``decision`` says so in words."""

    similarity: float
    threshold: float
    same_person: bool
    face_a: Face
    face_b: Face
    faces_a: int
    faces_b: int
    score: float = float("nan")
    score_kind: str = "cosine"
    far: float | None = None
    decision: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "similarity": round(self.similarity, 6),
            "score": round(self.score, 6),
            "score_kind": self.score_kind,
            "threshold": self.threshold,
            "far": self.far,
            "decision": self.decision,
            "same_person": self.same_person,
            "face_a": {**self.face_a.to_dict(), "faces_found": self.faces_a},
            "face_b": {**self.face_b.to_dict(), "faces_found": self.faces_b},
        }


@dataclass(frozen=True)
class BatchEmbeddings:
    """One embedding per image; ``detected[i]`` is False where a fallback crop was used. With
    ``collect_errors``, ``errors[i]`` says why image ``i`` has none (its row is then zeros) and
    ``faces[i]`` is the face each row comes from."""

    embeddings: np.ndarray
    detected: np.ndarray
    errors: list[str | None] = field(default_factory=list)
    faces: list[Face | None] = field(default_factory=list)


class FaceRecognizer:
    """Detection, alignment and embedding behind one object.

    ``detector`` is a registry name (``"yunet,retinaface"``, ``"mtcnn"``...; see
    :func:`facerec.models.get_detector`) or a :class:`Detector`; ``detect=False`` treats every
    input as a face crop already (no detection; the model's landmark template on the whole image).
    ``landmarks`` says who places the 5 points of faces found by detectors other than MTCNN: MTCNN's
    refinement networks where they agree with the detector's within 0.3 eye distances (``"mtcnn"``,
    the default), or the detector itself (``"detector"``: faster, less precise).
    ``backend`` runs the embedder (and detectors that can) in ``"onnx"`` (onnxruntime, the default)
    or ``"torch"``; ``threads`` caps onnxruntime's sessions (default: ``FACEREC_THREADS`` or the cores); torch's
    thread count is process-wide and left to the program (the CLI and the service set it). ``precision``
    ``"auto"`` runs the embedder in int8 where its weights have a calibration and the backend is onnx
    (about 2.3x the faces/s of fp32, embeddings within cosine 0.99 of fp32's), else in fp32.
    ``threshold`` defaults to the calibrated threshold of the model's weights. ``defence`` transforms every
    aligned crop before it is embedded (e.g. ``facerec.defence.crop_defence("jpeg")``, what ``--robust`` uses).
    ``even_light`` evens out strong side light on a crop before it is embedded (:mod:`facerec.illumination`).
    """

    def __init__(
        self,
        model: str = "mobilefacenet",
        *,
        tag: str | None = None,
        weights: str | Path | None = None,
        threshold: float | None = None,
        flip: bool = True,
        detector: str | Detector = DEFAULT_DETECTOR,
        detect: bool = True,
        landmarks: Landmarks = DEFAULT_LANDMARKS,
        backend: Backend = "onnx",
        precision: str = "auto",
        threads: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        defence: CropTransform | None = None,
        even_light: bool = True,
    ) -> None:
        if backend not in ("onnx", "torch"):
            raise ValueError(f"backend must be 'onnx' or 'torch', got {backend!r}")
        threshold = None if threshold is None else check_threshold(threshold)  # before any weights are loaded
        self.threads = resolve_threads(threads)  # onnxruntime's; torch's process-wide setting is left alone
        self._file = model_file(model, tag=tag, weights_path=weights)
        self._model: FaceEmbedder | None = None
        self.weights = self._file.weights
        self.backend, self.embedder = self._embedder(backend, resolve_precision(precision, backend, self.weights))
        #: What the embedder really runs in (int8 falls back to fp32 where it cannot be built).
        self.precision: Precision = self.embedder.precision if isinstance(self.embedder, OnnxEmbedder) else "fp32"
        self.threshold = self.weights.threshold if threshold is None else threshold
        self.fixed_threshold = threshold  # None: verify decides as the model's calibration says
        self.flip = flip
        if not detect:
            self.detector: Detector = FaceCropDetector(self.weights.alignment)
        elif isinstance(detector, str):
            self.detector = get_detector(detector, backend=backend, threads=self.threads, landmarks=landmarks)
        else:
            self.detector = detector
        self.max_pixels = max_pixels
        self.defence = defence
        self.even_light = even_light
        #: The settings it was built from by :func:`build_recognizer` (None when built directly).
        self.config: PipelineConfig | None = None

    @property
    def model(self) -> FaceEmbedder:
        """The embedder as a PyTorch module (differentiable: attacks and training use it), built on first use;
        with the onnx backend and its export cached, the pipeline never builds it (nor imports torch)."""
        if self._model is None:
            if self._file.load is None:
                raise UnknownModelError(f"{self.model_key} is an ONNX file: it has no PyTorch network to run with "
                                        "--backend torch or to attack", hint="--backend onnx")
            self._model = self._file.load()
        return self._model

    def _embedder(self, backend: Backend, precision: Precision) -> tuple[Backend, FaceEmbedder | OnnxEmbedder]:
        if backend == "torch":
            return "torch", self.model
        try:
            if precision == "int8":
                try:
                    return "onnx", OnnxEmbedder(self._file, threads=self.threads, precision="int8")
                except (PrecisionError, RuntimeError, ValueError, KeyError) as exc:
                    warnings.warn(f"{self.model_key} cannot run in int8 ({exc}); using fp32", FaceRecWarning,
                                  stacklevel=3)
            return "onnx", OnnxEmbedder(self._file, threads=self.threads)
        except OnnxExportError:  # said on stderr when the export failed (once: the failure is remembered)
            return "torch", self.model
        except RuntimeError as exc:
            if self._file.load is None:  # an ONNX file only: nothing else can run it
                raise ModelRunError(f"{self.model_key} cannot run in onnxruntime ({exc})") from None
            warnings.warn(f"{self.model_key} cannot run in onnxruntime ({exc}); using PyTorch", FaceRecWarning,
                          stacklevel=3)
            return "torch", self.model

    @property
    def model_key(self) -> str:
        """Names the embedding space (model and weights); galleries are bound to it."""
        return self.weights.key

    def load(self, image: ImageInput) -> np.ndarray:
        """The pixels detection and alignment work on: ``image`` in RGB, photos over
        :data:`~facerec.io.WORK_PIXELS` downscaled while decoding."""
        return self.decode(image).pixels

    def decode(self, image: ImageInput) -> DecodedImage:
        """``image`` decoded at its working size, with its original size (see :func:`facerec.io.decode_image`)."""
        return decode_image(image, max_pixels=self.max_pixels)

    def detect(self, image: ImageInput) -> list[Face]:
        """All faces in ``image``, largest first, in its pixel coordinates (an empty list when there are none)."""
        decoded = self.decode(image)
        return [_original(face, decoded) for face in self.detector.detect([decoded.pixels])[0]]

    def embed_faces(self, pixels: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """Embeddings (``N x D``) of the given faces of an already loaded RGB image."""
        return self.embed_crops(align_faces(pixels, faces, self.weights.alignment))

    def embed_crops(self, crops: np.ndarray, *, even_light: bool | None = None) -> np.ndarray:
        """Embeddings of aligned uint8 crops (``N x S x S x 3``), side light evened out (``even_light``, default
        the recognizer's: a gallery passes its own, see :attr:`facerec.Gallery.even_light`), then through the
        defence if there is one."""
        if (self.even_light if even_light is None else even_light) and len(crops):
            crops = even_out(crops)
        if self.defence is not None and len(crops):
            crops = self.defence(crops)
        return self.embedder.embed(crops, flip=self.flip)

    def locate(self, images: Sequence[ImageInput], *, names: Sequence[str] | None = None, all_faces: bool = False,
               require_single: bool = False, select: Selection = "largest", fallback: Fallback = None,
               collect_errors: bool = False) -> list[Located]:
        """The faces of each image, detected and aligned (see :func:`facerec.crops.locate_faces`, the one path
        every command takes); ``names`` name the images in errors (uploads)."""
        return locate_faces(images, detector=self.detector, alignment=self.weights.alignment, names=names,
                            select=select, all_faces=all_faces, fallback=fallback, require_single=require_single,
                            max_pixels=self.max_pixels, collect_errors=collect_errors)

    def embed(self, image: ImageInput, *, all_faces: bool = False, require_single: bool = False,
              name: str | None = None) -> list[FaceEmbedding]:
        """Embed the largest face of ``image`` (or every face with ``all_faces``).

        Raises :class:`NoFaceError` when there is none, and :class:`MultipleFacesError`
        with ``require_single`` when there are several; ``name`` names the image in them.
        """
        [located] = self.locate([image], names=None if name is None else [name], all_faces=all_faces,
                                require_single=require_single)
        vectors = self.embed_crops(located.crops)
        return [FaceEmbedding(face, vector) for face, vector in zip(located.faces, vectors)]

    def verify(self, a: ImageInput, b: ImageInput, *, require_single: bool = False,
               names: tuple[str, str] | None = None, far: float = FAR) -> VerifyResult:
        """Compare the largest face of ``a`` with the largest face of ``b`` at false-accept rate ``far``: the
        open-set decision of a one-person gallery (:func:`facerec.open_set.pair_decision`), so it agrees with
        identifying ``b`` against a gallery of ``a`` alone at ``fpir=far``; with a ``threshold`` given to the
        recognizer, the cosine against it instead. Face errors name the images by ``names`` (e.g. the uploads they
        came from), else as :func:`~facerec.io.describe` does."""
        from facerec.open_set import check_fpir, pair_decision
        from facerec.quality import assess_faces

        far = check_fpir(far, "far")
        first, second = self.locate([a, b], names=names, require_single=require_single)
        vec_a, vec_b = self.embed_crops(np.concatenate([first.crops, second.crops]))
        similarity = float(np.dot(vec_a, vec_b))
        faces = (first.faces[0], second.faces[0], first.found, second.found)
        if self.fixed_threshold is not None:
            return VerifyResult(similarity, self.threshold, similarity >= self.threshold, *faces, score=similarity,
                                decision=f"cosine, the fixed threshold {self.threshold:g}")
        low_a, low_b = (quality.low for quality in assess_faces([first.work_faces[0], second.work_faces[0]],
                                                                np.stack([first.crops[0], second.crops[0]])))
        cohort, notice = self.cohort()
        if notice is not None:
            warnings.warn(FaceRecWarning(notice), stacklevel=2)
        scores, thresholds = pair_decision(cohort, self.weights, vec_a, vec_b, np.array([low_a]), np.array([low_b]),
                                           far)
        score, threshold = float(scores[0, 0]), float(thresholds[0, 0])
        kind = "cosine" if cohort is None else "as-norm"
        return VerifyResult(similarity, threshold, score >= threshold, *faces, score=score, score_kind=kind, far=far,
                            decision=_verify_decision(cohort, far))

    def verify_threshold(self, far: float = FAR) -> tuple[float, str]:
        """The threshold :meth:`verify` holds an ordinary pair to at ``far`` (a fixed ``threshold``: that one), and
        the decision in words."""
        from facerec.open_set import model_threshold

        if self.fixed_threshold is not None:
            return self.threshold, f"cosine, the fixed threshold {self.threshold:g}"
        cohort, _ = self.cohort()
        return model_threshold(cohort, self.weights, 1, far), _verify_decision(cohort, far)

    def cohort(self) -> tuple[Cohort | None, str | None]:
        """The model's calibration for the space this recognizer embeds in, and why not where there is one that
        cannot be used here (:func:`facerec.cohort.cohort_for`: read from its files once per process, looked up
        on each call, so a calibration written meanwhile is used)."""
        from facerec.cohort import cohort_for
        from facerec.embedding_space import embedding_space

        return cohort_for(self.weights, embedding_space(self, self.even_light))

    def align(
        self,
        images: Sequence[ImageInput],
        *,
        select: Selection = "largest",
        fallback: Fallback = "center",
        require_single: bool = False,
        collect_errors: bool = False,
        names: Sequence[str] | None = None,
    ) -> AlignedBatch:
        """Aligned crops of the face chosen by ``select`` in each image (see :func:`facerec.crops.align_images`).

        With ``fallback`` an image with no detected face gets a central crop (``False`` in
        ``detected``); with ``fallback=None`` it raises :class:`NoFaceError`.
        """
        return align_images(images, detector=self.detector, alignment=self.weights.alignment, select=select,
                            fallback=fallback, require_single=require_single, max_pixels=self.max_pixels,
                            collect_errors=collect_errors, names=names)

    def iter_aligned(
        self, images: Sequence[ImageInput], *, select: Selection = "largest", fallback: Fallback = "center",
        batch_size: int = 32, require_single: bool = False, collect_errors: bool = False,
    ) -> Iterator[tuple[int, AlignedBatch]]:
        """``(start, aligned)`` for each batch of ``images``, the next batch being decoded and
        detected in a background thread while the caller embeds the current one (both cores busy)."""
        starts = list(range(0, len(images), batch_size))
        if not starts:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="facerec-align") as pool:
            def submit(start: int):  # noqa: ANN202 - a Future
                return pool.submit(self.align, images[start : start + batch_size], select=select,
                                   fallback=fallback, require_single=require_single,
                                   collect_errors=collect_errors)

            pending = submit(starts[0])
            for n, start in enumerate(starts):
                aligned = pending.result()
                if n + 1 < len(starts):
                    pending = submit(starts[n + 1])
                yield start, aligned

    def embed_images(
        self,
        images: Sequence[ImageInput],
        *,
        select: Selection = "largest",
        fallback: bool = True,
        batch_size: int = 32,
        progress: bool = False,
        collect_errors: bool = False,
    ) -> BatchEmbeddings:
        """One embedding per image, in pipelined batches: the face chosen by ``select`` (see :meth:`align`).

        Without ``fallback`` an image with no face raises :class:`NoFaceError`, or with ``collect_errors``
        is recorded in ``errors`` (and every other unusable image too) while the rest go on."""
        vectors = np.zeros((len(images), self.weights.embedding_size), dtype=np.float32)
        detected = np.zeros(len(images), dtype=bool)
        errors: list[str | None] = []
        faces: list[Face | None] = []
        with tqdm(total=len(images), unit="img", disable=not progress, desc="embedding") as bar:
            for start, aligned in self.iter_aligned(images, select=select, fallback="center" if fallback else None,
                                                    batch_size=batch_size, collect_errors=collect_errors):
                count = len(aligned.crops)
                vectors[start : start + count] = self.embed_crops(aligned.crops)
                vectors[[start + i for i, error in enumerate(aligned.errors) if error is not None]] = 0.0
                detected[start : start + count] = aligned.detected
                errors += aligned.errors
                faces += aligned.faces
                bar.update(count)
        return BatchEmbeddings(vectors, detected, errors, faces)


def _verify_decision(cohort: Cohort | None, far: float) -> str:
    """How verify decides, in words (its ``decision``)."""
    if cohort is None:
        return f"cosine, not calibrated for this model (its spec's tail; facerec models calibrate), FAR {far:g}"
    return f"{cohort.describe()}, FAR {far:g}"


def build_recognizer(config: PipelineConfig, *, threshold: float | None = None) -> FaceRecognizer:
    """The recognizer ``config`` describes (``threshold``: a verification threshold other than the model's).

    The one place a pipeline is built from settings (here, beside the class, so that :mod:`facerec.config`
    need not import this module); it imports torch only where the config needs it
    (``backend="torch"``, the mtcnn detector, the resize defence, or a first use that exports a model to ONNX).

    >>> build_recognizer(PipelineConfig(detectors=("yunet",))).detector.name  # doctest: +SKIP
    'yunet'
    """
    defence = None
    if config.defence is not None:
        from facerec.defence import crop_defence  # jpeg: Pillow only; resize: the robustness extra

        defence = crop_defence(config.defence)
    model_file(config.model, tag=config.tag, weights_path=config.weights)  # the embedder's file first: a missing
    # one is named before any detector's. The detectors are built from the config whole (their options: score
    # threshold, NMS, working size).
    detector = build_detector(config) if config.detect else config.detector
    recognizer = FaceRecognizer(
        config.model, tag=config.tag, weights=config.weights, threshold=threshold, flip=config.flip,
        detector=detector, detect=config.detect, landmarks=config.landmarks,  # type: ignore[arg-type]
        backend=config.backend, precision=config.precision, threads=config.threads,  # type: ignore[arg-type]
        max_pixels=config.max_pixels, defence=defence, even_light=config.even_light)
    recognizer.config = config
    return recognizer
