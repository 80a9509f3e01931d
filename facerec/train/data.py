"""Folder-per-person face data: detected and aligned once, cached as ``.npz``, split by person.

A dataset root holds one folder per person (``root/Name/*.jpg|png|pgm``). Every photo is
run once through a detector and aligned (:func:`facerec.crops.align_images`); the crops are cached
under ``cache_dir`` so that
training never detects again.

>>> faces = load_face_folder("../shared/data/att_faces", alignment=Alignment(112))  # doctest: +SKIP
>>> faces.crops.shape  # doctest: +SKIP
(400, 112, 112, 3)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal, Sequence

import numpy as np

from facerec.alignment import Alignment
from facerec.crops import align_images
from facerec.errors import DatasetError
from facerec.fileio import atomic_path
from facerec.io import IMAGE_SUFFIXES
from facerec.models.detectors import DEFAULT_DETECTOR, Detector, get_detector
from facerec.progress import tqdm

__all__ = [
    "IMAGE_SUFFIXES", "FaceFolder", "Fallback", "list_people", "select_people", "load_crops", "load_face_folder",
]


#: What to crop when MTCNN finds no face: facerec's central-half template (``"center"``, right for
#: LFW-style photos with background) or the whole picture (``"whole"``, right for tight crops such as
#: AT&T or Yale B, where the face fills the frame).
Fallback = Literal["center", "whole"]


@dataclass(frozen=True)
class FaceFolder:
    """Aligned crops (``N x S x S x 3`` uint8) with an integer label per crop.

    ``people[label]`` names the person; ``detected[i]`` is False where a fallback crop was used.
    """

    crops: np.ndarray
    labels: np.ndarray
    people: tuple[str, ...]
    paths: tuple[str, ...]
    detected: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, people: Iterable[str]) -> "FaceFolder":
        """Only the photos of ``people`` (relabelled 0..P-1 in the order given)."""
        chosen = list(dict.fromkeys(people))
        unknown = sorted(set(chosen) - set(self.people))
        if unknown:
            raise DatasetError(f"{len(unknown)} people are not in the dataset, e.g. {unknown[0]!r}")
        index = {name: i for i, name in enumerate(self.people)}
        new_label = np.full(len(self.people), -1, dtype=np.int64)
        new_label[[index[name] for name in chosen]] = np.arange(len(chosen))
        keep = np.nonzero(new_label[self.labels] >= 0)[0]
        return FaceFolder(
            crops=self.crops[keep], labels=new_label[self.labels[keep]], people=tuple(chosen),
            paths=tuple(self.paths[i] for i in keep), detected=self.detected[keep],
        )

    def with_min_images(self, count: int) -> "FaceFolder":
        """Only the people with at least ``count`` photos (triplets need two of a person)."""
        counts = np.bincount(self.labels, minlength=len(self.people))
        return self.subset(name for name, n in zip(self.people, counts) if n >= count)

    @staticmethod
    def concat(parts: Sequence["FaceFolder"]) -> "FaceFolder":
        """Join datasets of distinct people (a name seen twice is an error: splits are by person)."""
        names = [name for part in parts for name in part.people]
        if len(set(names)) != len(names):
            raise DatasetError("the datasets to join share person names")
        offsets = np.cumsum([0] + [len(part.people) for part in parts])
        return FaceFolder(
            crops=np.concatenate([part.crops for part in parts]),
            labels=np.concatenate([part.labels + offset for part, offset in zip(parts, offsets)]),
            people=tuple(names),
            paths=tuple(path for part in parts for path in part.paths),
            detected=np.concatenate([part.detected for part in parts]),
        )


def list_people(root: str | Path) -> dict[str, list[Path]]:
    """``{person: sorted image paths}`` for every sub-folder of ``root`` that holds images."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    people = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            people[folder.name] = images
    if not people:
        raise DatasetError(f"{root} has no sub-folders with images (expected root/Name/*.jpg)")
    return people


def select_people(
    root: str | Path, *, include: Iterable[str] | None = None, exclude: Iterable[str] = (), min_images: int = 1,
) -> list[str]:
    """Names under ``root`` (in folder order), limited to ``include``, without ``exclude``,
    with at least ``min_images`` photos; so that a split is made before any photo is aligned."""
    found = list_people(root)
    names = list(found) if include is None else list(dict.fromkeys(include))
    missing = [name for name in names if name not in found]
    if missing:
        raise DatasetError(f"{len(missing)} people have no folder under {root}, e.g. {missing[0]!r}")
    excluded = set(exclude)
    return [name for name in names if name not in excluded and len(found[name]) >= min_images]


def load_crops(
    paths: Sequence[Path],
    alignment: Alignment,
    *,
    cache_dir: str | Path | None = None,
    pad: float = 0.0,
    fallback: Fallback = "center",
    detect: bool = True,
    detector: Detector | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned crops of ``paths`` (through :func:`facerec.crops.align_images`) and a ``detected`` flag
    each, cached by paths and settings.

    ``pad`` adds that fraction of the image size on every side (edge pixels repeated) before
    detection; ``detect=False`` skips detection and uses the fallback crop for every photo.
    """
    paths = [Path(p) for p in paths]
    detector = (detector or get_detector(DEFAULT_DETECTOR)) if detect else None
    settings = {"alignment": repr(alignment), "pad": pad, "fallback": fallback,
                "detector": detector.settings if detector is not None else None}
    cache = _cache_file(cache_dir, paths, settings)
    if cache is not None and cache.is_file():
        with np.load(cache) as stored:
            return stored["crops"], stored["detected"]
    size = alignment.size
    crops = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    detected = np.zeros(len(paths), dtype=bool)
    with tqdm(total=len(paths), unit="img", desc="aligning", disable=not progress) as bar:
        for start in range(0, len(paths), 32):
            chunk = paths[start : start + 32]
            aligned = align_images(chunk, detector=detector, alignment=alignment, pad=pad, fallback=fallback)
            crops[start : start + len(chunk)] = aligned.crops
            detected[start : start + len(chunk)] = aligned.detected
            bar.update(len(chunk))
    if cache is not None:
        with atomic_path(cache) as tmp:
            np.savez(tmp, crops=crops, detected=detected)
    return crops, detected


def load_face_folder(
    root: str | Path,
    alignment: Alignment,
    *,
    people: Iterable[str] | None = None,
    cache_dir: str | Path | None = None,
    pad: float = 0.0,
    fallback: Fallback = "center",
    detect: bool = True,
    detector: Detector | None = None,
    max_per_person: int | None = None,
    progress: bool = False,
) -> FaceFolder:
    """The photos of ``people`` (default: everyone) under ``root``, aligned and cached.

    ``max_per_person`` keeps only the first photos of each person (sorted by name), which
    bounds both the alignment cost and the weight of a few over-photographed people.
    """
    found = list_people(root)
    names = list(found) if people is None else list(dict.fromkeys(people))
    missing = [name for name in names if name not in found]
    if missing:
        raise DatasetError(f"{len(missing)} people have no folder under {root}, e.g. {missing[0]!r}")
    chosen = {name: found[name][:max_per_person] for name in names}
    paths = [path for name in names for path in chosen[name]]
    labels = np.concatenate([np.full(len(chosen[name]), i, dtype=np.int64) for i, name in enumerate(names)])
    crops, detected = load_crops(
        paths, alignment, cache_dir=cache_dir, pad=pad, fallback=fallback, detect=detect,
        detector=detector, progress=progress,
    )
    return FaceFolder(crops, labels, tuple(names), tuple(str(p) for p in paths), detected)


def _cache_file(cache_dir: str | Path | None, paths: Sequence[Path], settings: dict) -> Path | None:
    if cache_dir is None:
        return None
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.resolve()}\0{stat.st_size}\0{int(stat.st_mtime)}\n".encode())
    return Path(cache_dir).expanduser() / f"faces-{digest.hexdigest()[:20]}.npz"
