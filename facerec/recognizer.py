"""The public face-recognition API: detect, embed and verify.

>>> recognizer = FaceRecognizer()  # doctest: +SKIP
>>> result = recognizer.verify("a.jpg", "b.jpg")  # doctest: +SKIP
>>> result.same_person, round(result.similarity, 2)  # doctest: +SKIP
(True, 0.71)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
from tqdm import tqdm

from facerec.alignment import align_faces
from facerec.detection import Face, FaceDetector, Selection, fallback_face, select_face
from facerec.errors import MultipleFacesError, NoFaceError
from facerec.io import DEFAULT_MAX_PIXELS, ImageInput, describe, load_image
from facerec.models import get_model

if TYPE_CHECKING:
    from facerec.robustness.defence import InputDefence

__all__ = ["FaceRecognizer", "FaceEmbedding", "VerifyResult", "BatchEmbeddings"]

# The defence that ``robust=True`` (``--robust`` on the command line) applies; see the README.
ROBUST_DEFENCE = "jpeg"


@dataclass(frozen=True)
class FaceEmbedding:
    """One face and its unit-length embedding."""

    face: Face
    embedding: np.ndarray


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of a 1:1 comparison; ``faces_a``/``faces_b`` count the faces found."""

    similarity: float
    threshold: float
    same_person: bool
    face_a: Face
    face_b: Face
    faces_a: int
    faces_b: int

    def to_dict(self) -> dict[str, object]:
        return {
            "similarity": round(self.similarity, 6),
            "threshold": self.threshold,
            "same_person": self.same_person,
            "face_a": {**self.face_a.to_dict(), "faces_found": self.faces_a},
            "face_b": {**self.face_b.to_dict(), "faces_found": self.faces_b},
        }


@dataclass(frozen=True)
class BatchEmbeddings:
    """One embedding per image; ``detected[i]`` is False where a fallback crop was used."""

    embeddings: np.ndarray
    detected: np.ndarray


class FaceRecognizer:
    """Detection (MTCNN), alignment and embedding behind one object.

    ``threshold`` defaults to the calibrated threshold of the model's weights. A ``defence``
    (see :mod:`facerec.robustness.defence`) transforms every aligned crop before it is
    embedded, to blunt adversarial perturbations; ``robust=True`` picks the default one.
    """

    def __init__(
        self,
        model: str = "mobilefacenet",
        *,
        tag: str | None = None,
        weights: str | Path | None = None,
        threshold: float | None = None,
        flip: bool = True,
        detector: FaceDetector | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        defence: InputDefence | None = None,
        robust: bool = False,
    ) -> None:
        self.model = get_model(model, tag=tag, weights_path=weights)
        self.weights = self.model.weights
        self.threshold = self.weights.threshold if threshold is None else threshold
        self.flip = flip
        self.detector = detector or FaceDetector()
        self.max_pixels = max_pixels
        if robust and defence is None:
            from facerec.robustness.defence import get_defence

            defence = get_defence(ROBUST_DEFENCE)
        self.defence = defence

    @property
    def model_key(self) -> str:
        """Names the embedding space (model and weights); galleries are bound to it."""
        return self.weights.key

    def load(self, image: ImageInput) -> np.ndarray:
        return load_image(image, max_pixels=self.max_pixels)

    def detect(self, image: ImageInput) -> list[Face]:
        """All faces in ``image``, largest first (an empty list when there are none)."""
        return self.detector.detect([self.load(image)])[0]

    def embed_faces(self, pixels: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """Embeddings (``N x D``) of the given faces of an already loaded RGB image."""
        return self.embed_crops(align_faces(pixels, faces, self.weights.alignment))

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """Embeddings of aligned uint8 crops (``N x S x S x 3``), through the defence if there is one."""
        if self.defence is not None and len(crops):
            crops = self.defence.transform_crops(crops)
        return self.model.embed(crops, flip=self.flip)

    def embed(self, image: ImageInput, *, all_faces: bool = False, require_single: bool = False) -> list[FaceEmbedding]:
        """Embed the largest face of ``image`` (or every face with ``all_faces``).

        Raises :class:`NoFaceError` when there is none, and :class:`MultipleFacesError`
        with ``require_single`` when there are several.
        """
        pixels = self.load(image)
        faces = self.detector.detect([pixels])[0]
        _check_count(describe(image), faces, require_single)
        chosen = faces if all_faces else faces[:1]
        vectors = self.embed_faces(pixels, chosen)
        return [FaceEmbedding(face, vector) for face, vector in zip(chosen, vectors)]

    def verify(self, a: ImageInput, b: ImageInput, *, require_single: bool = False) -> VerifyResult:
        """Compare the largest face of ``a`` with the largest face of ``b``."""
        pixels = [self.load(a), self.load(b)]
        found = self.detector.detect(pixels)
        for source, faces in zip((a, b), found):
            _check_count(describe(source), faces, require_single)
        vec_a = self.embed_faces(pixels[0], found[0][:1])[0]
        vec_b = self.embed_faces(pixels[1], found[1][:1])[0]
        similarity = float(np.dot(vec_a, vec_b))
        return VerifyResult(
            similarity=similarity,
            threshold=self.threshold,
            same_person=similarity >= self.threshold,
            face_a=found[0][0],
            face_b=found[1][0],
            faces_a=len(found[0]),
            faces_b=len(found[1]),
        )

    def align_images(
        self,
        images: Sequence[ImageInput],
        *,
        select: Selection = "largest",
        fallback: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The aligned uint8 crop (``N x S x S x 3``) of the face chosen by ``select`` in each image.

        With ``fallback`` an image with no detected face gets a central crop (and ``False``
        in the returned ``detected`` flags) instead of raising :class:`NoFaceError`.
        """
        alignment = self.weights.alignment
        pixels = [self.load(image) for image in images]
        crops = np.zeros((len(images), alignment.size, alignment.size, 3), dtype=np.uint8)
        detected = np.zeros(len(images), dtype=bool)
        for i, (image, faces) in enumerate(zip(pixels, self.detector.detect(pixels))):
            if faces:
                face = select_face(faces, image.shape, select)
                detected[i] = True
            elif fallback:
                face = fallback_face(image.shape, np.asarray(alignment.template), alignment.size)
            else:
                raise NoFaceError(describe(images[i]))
            crops[i] = align_faces(image, [face], alignment)[0]
        return crops, detected

    def embed_images(
        self,
        images: Sequence[ImageInput],
        *,
        select: Selection = "largest",
        fallback: bool = True,
        batch_size: int = 32,
        progress: bool = False,
    ) -> BatchEmbeddings:
        """One embedding per image, in batches: the face chosen by ``select`` (see :meth:`align_images`)."""
        vectors = np.zeros((len(images), self.weights.embedding_size), dtype=np.float32)
        detected = np.zeros(len(images), dtype=bool)
        bar = tqdm(total=len(images), unit="img", disable=not progress, desc="embedding")
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            crops, detected[start : start + len(chunk)] = self.align_images(chunk, select=select, fallback=fallback)
            vectors[start : start + len(chunk)] = self.embed_crops(crops)
            bar.update(len(chunk))
        bar.close()
        return BatchEmbeddings(vectors, detected)


def _check_count(source: str, faces: Iterable[Face], require_single: bool) -> None:
    faces = list(faces)
    if not faces:
        raise NoFaceError(source)
    if require_single and len(faces) > 1:
        raise MultipleFacesError(source, len(faces))
