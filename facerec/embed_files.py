"""Embeddings of many photos written to a folder (what deepface calls ``represent``), resumable.

The folder holds ``embeddings.npy`` (float32, one row per face, L2-normalised), ``faces.csv`` (or
``faces.json``) with one line per row: the photo, which face of it, the box, the detector's score and
which detector found it, ``errors.csv`` for the photos that gave no embedding, and ``meta.json`` (the
model key, the dimension and the detector settings). Photos are embedded in chunks; each chunk is
written to ``parts/`` atomically, so a run that is stopped loses at most the chunk it was on, and a
rerun skips every photo already done. A file name that is not UTF-8 is written with its odd bytes as ``\\xNN``
escapes (see :func:`facerec.checks.path_text`), so that every file the folder holds is valid UTF-8.

>>> report = embed_to_folder(FaceRecognizer(), ["photos/"], "out/")  # doctest: +SKIP
>>> np.load("out/embeddings.npy").shape  # doctest: +SKIP
(1042, 128)
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from facerec.checks import path_text
from facerec.errors import FaceRecError
from facerec.fileio import atomic_path, checked, shown_path
from facerec.io import IMAGE_SUFFIXES
from facerec.recognizer import FaceRecognizer

__all__ = ["EmbedFolderError", "EmbedReport", "EmbedSettingsError", "NoImagesError", "find_photos", "embed_to_folder",
           "FACE_COLUMNS"]

FACE_COLUMNS = ("path", "face", "x1", "y1", "x2", "y2", "score", "detector")
IndexFormat = Literal["csv", "json", "parquet"]


class EmbedSettingsError(FaceRecError):
    """The folder holds embeddings made with other settings; ``differences`` lists each one that differs as
    ``(setting, before, now)``, ``setting`` being a key of ``meta.json`` (``detector`` with a path into its
    settings where only part of them differs)."""

    def __init__(self, out: Path, differences: list[tuple[str, str, str]]) -> None:
        self.out, self.differences = out, differences
        said = "; ".join(f"{name.replace('_', ' ') if name.isidentifier() else name}: before {before}, now {now}"
                         for name, before, now in differences[:3])
        said += f"; and {len(differences) - 3} more" if len(differences) > 3 else ""
        super().__init__(f"{out} holds embeddings made with other settings ({said}); use another folder")


class EmbedFolderError(FaceRecError):
    """A file of an embeddings folder cannot be read back (not JSON, a damaged part): nothing is resumed there,
    and nothing in the folder is changed."""

    def __init__(self, out: Path, file: Path, reason: str, hint: str) -> None:
        self.out, self.file = out, file
        super().__init__(f"cannot resume in {shown_path(out)}: {shown_path(file)} {reason}; {hint}")


class NoImagesError(FaceRecError):
    """Folders given as inputs hold no image file: nothing to do, said rather than done silently."""

    def __init__(self, folders: Sequence[str | Path]) -> None:
        self.folders = [str(folder) for folder in folders]
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        super().__init__(f"no images found in {', '.join(map(shown_path, folders))} (looked for {suffixes} files, "
                         "in sub-folders too)")


@dataclass
class EmbedReport:
    out: Path
    photos: int = 0  # photos in the inputs
    resumed: int = 0  # of them, done by an earlier run
    faces: int = 0  # rows in embeddings.npy
    failed: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "photos": self.photos, "resumed": self.resumed, "faces": self.faces,
                "failed": [{"path": p, "error": e} for p, e in self.failed]}


def find_photos(inputs: Sequence[str | Path]) -> list[Path]:
    """Files as given, and the image files under each folder (recursively), in a stable order. A path that
    cannot be read (no such file, a name over 255 bytes, permission denied) raises :class:`FaceRecError`."""
    photos: list[Path] = []
    for given in inputs:
        with checked(given, "input") as item:
            if item.is_dir():
                photos.extend(sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
            elif item.exists():
                photos.append(item)
            else:
                raise FaceRecError(f"{shown_path(item)}: no such file or folder")
    return list(dict.fromkeys(photos))


def embed_to_folder(recognizer: FaceRecognizer, inputs: Sequence[str | Path], out: str | Path, *,
                    all_faces: bool = False, chunk: int = 256, progress: bool = True,
                    index_format: IndexFormat = "csv") -> EmbedReport:
    """Embed the largest face (or every face) of each photo of ``inputs`` into the folder ``out``.

    Refused before anything is written: inputs without any image (:class:`NoImagesError`), a folder ``out``
    that holds other files, embeddings made with other settings (:class:`EmbedSettingsError`) or files that
    cannot be read back (:class:`EmbedFolderError`)."""
    from facerec.progress import tqdm

    out = Path(out)
    if index_format == "parquet":
        _require_pyarrow()
    photos = find_photos(inputs)
    if not photos:  # every input was a folder without images: say so, rather than write an empty folder
        raise NoImagesError(inputs)
    meta = {"model": recognizer.model_key, "dim": recognizer.weights.embedding_size, "all_faces": all_faces,
            "detector": recognizer.detector.settings if recognizer.detector is not None else "face-crop",
            "even_light": recognizer.even_light}
    with checked(out, error=lambda shown, reason: FaceRecError(f"cannot use the output folder {shown}: {reason}")):
        done = _resume(out, meta)
        _claim(out, meta)
    todo = [p for p in photos if path_text(p) not in done]
    report = EmbedReport(out, photos=len(photos), resumed=len(photos) - len(todo))
    part = len(list((out / "parts").glob("*.npy")))
    with tqdm(total=len(photos), initial=report.resumed, unit="photo", disable=not progress, desc="embedding") as bar:
        for start in range(0, len(todo), chunk):
            batch = todo[start : start + chunk]
            rows, vectors, errors = _embed_chunk(recognizer, batch, all_faces)
            _write_part(out / "parts", part, rows, vectors, errors)
            part += 1
            bar.update(len(batch))
    report.faces, report.failed = _merge(out, index_format, recognizer.weights.embedding_size)
    return report


#: What to do about a damaged ``meta.json``, and about a damaged part.
_START_AGAIN = "remove the folder, or embed into a new one"
_REDO_PART = "delete that part's .csv and .npy to embed its photos again, or embed into a new folder"


def _resume(out: Path, meta: dict[str, Any]) -> set[str]:
    """The photos done in ``out`` by earlier runs, every file read back first; writes nothing. A folder written
    with another model or other settings, or one holding other files, is refused."""
    meta_file = out / "meta.json"
    if out.exists() and not out.is_dir():
        raise FaceRecError(f"{shown_path(out)} is a file, not a folder; give a folder for the embeddings")
    if not meta_file.is_file():
        if out.exists() and any(out.iterdir()):
            raise FaceRecError(f"{shown_path(out)} is not empty and holds no facerec embeddings; use a new folder")
        return set()
    old = _read_meta(out, meta_file)
    old.setdefault("even_light", False)  # written before it was recorded: side light was not evened out
    new = json.loads(json.dumps(meta))
    if old != new:
        raise EmbedSettingsError(out, _differences(old, new))
    done: set[str] = set()
    for table in sorted((out / "parts").glob("*.csv")):
        faces, _, errors = _read_part(out, table, int(meta["dim"]))
        done.update(row["path"] for row in faces)
        done.update(path for path, _ in errors)
    return done


def _read_meta(out: Path, meta_file: Path) -> dict[str, Any]:
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EmbedFolderError(out, meta_file, f"is not JSON ({exc})", _START_AGAIN) from None
    if not isinstance(meta, dict):
        raise EmbedFolderError(out, meta_file, f"is not a JSON object of settings (it holds a {type(meta).__name__})",
                               _START_AGAIN)
    return meta


def _read_part(out: Path, table: Path, dim: int) -> tuple[list[dict[str, Any]], np.ndarray, list[tuple[str, str]]]:
    """One part's faces (rows typed), their embeddings and the failed photos; :class:`EmbedFolderError` when
    its table or its embeddings cannot be read, or disagree."""
    try:
        with table.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            lines = list(reader)
            columns = set(reader.fieldnames or ())
        missing = [name for name in (*FACE_COLUMNS, "error") if name not in columns]
        if missing:
            raise ValueError(f"no {', '.join(missing)} column")
        faces = [{k: _typed(k, line[k]) for k in FACE_COLUMNS} for line in lines if not line["error"]]
        errors = [(line["path"], line["error"]) for line in lines if line["error"]]
    except (UnicodeDecodeError, csv.Error, ValueError, TypeError) as exc:
        raise EmbedFolderError(out, table, f"is not a table of faces ({exc})", _REDO_PART) from None
    vectors = table.with_suffix(".npy")
    try:
        part = np.load(vectors, allow_pickle=False)
    except FileNotFoundError:
        raise EmbedFolderError(out, vectors, "is missing", _REDO_PART) from None
    except (ValueError, EOFError, OSError) as exc:
        raise EmbedFolderError(out, vectors, f"is not a saved array ({exc})", _REDO_PART) from None
    if part.shape != (len(faces), dim) or not np.issubdtype(part.dtype, np.floating):
        raise EmbedFolderError(out, vectors, f"holds a {part.dtype} array of shape {part.shape} where {table.name} "
                                        f"needs {len(faces)} embeddings of {dim}", _REDO_PART)
    return faces, part, errors


def _claim(out: Path, meta: dict[str, Any]) -> None:
    """Start or resume ``out`` (:func:`_resume` has read it back): write its settings."""
    meta_file = out / "meta.json"
    with atomic_path(meta_file) as tmp:
        tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The settings that differ, as ``(name, before, now)``. The detector's are summed up as the options that
    make them: its name, and who places the landmarks; only where neither differs, the paths of the values
    that do (a detector of another version)."""
    found: list[tuple[str, str, str]] = []
    for key in dict.fromkeys([*new, *old]):
        before, now = old.get(key), new.get(key)
        if before == now:
            continue
        if key != "detector":
            found.append((key, _shown(before), _shown(now)))
        elif _detector_name(before) != _detector_name(now):
            found.append(("detector", _detector_name(before), _detector_name(now)))
        elif _landmarks(before) != _landmarks(now):
            found.append(("landmarks", _landmarks(before), _landmarks(now)))
        else:
            found += _paths(before, now, "detector")
    return found


def _detector_name(settings: Any) -> str:
    return str(settings.get("name")) if isinstance(settings, dict) else str(settings)


def _landmarks(settings: Any) -> str:
    """Who places the landmarks of each step of a detector's settings: ``mtcnn`` (the refinement networks)
    or ``detector`` (its own)."""
    steps = settings.get("steps", [[settings]]) if isinstance(settings, dict) else []
    placed = [step[0].get("landmarks", "detector") if isinstance(step[0], dict) else "detector" for step in steps]
    return ",".join(dict.fromkeys("mtcnn" if str(p).startswith("mtcnn") else str(p) for p in placed)) or "none"


def _paths(old: Any, new: Any, name: str) -> list[tuple[str, str, str]]:
    """``(path, before, now)`` of each value that differs between two nested settings."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [found for key in dict.fromkeys([*new, *old]) if old.get(key) != new.get(key)
                for found in _paths(old.get(key), new.get(key), f"{name}.{key}")]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [found for i, (a, b) in enumerate(zip(old, new)) if a != b for found in _paths(a, b, f"{name}[{i}]")]
    return [(name, _shown(old), _shown(new))]


def _shown(value: Any) -> str:
    """A setting's value as the user wrote it: false/true, a name unquoted; long ones cut short."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _embed_chunk(recognizer: FaceRecognizer, photos: list[Path], all_faces: bool
                 ) -> tuple[list[dict[str, Any]], np.ndarray, list[tuple[str, str]]]:
    rows: list[dict[str, Any]] = []
    vectors: list[np.ndarray] = []
    errors: list[tuple[str, str]] = []
    if all_faces:
        for photo in photos:
            try:
                found = recognizer.embed(photo, all_faces=True)
            except FaceRecError as exc:
                errors.append((path_text(photo), path_text(str(exc))))
                continue
            for number, item in enumerate(found):
                rows.append(_row(photo, number, item.face))
                vectors.append(item.embedding)
    else:
        embedded = recognizer.embed_images(photos, fallback=False, collect_errors=True)
        for photo, face, error, vector in zip(photos, embedded.faces, embedded.errors, embedded.embeddings):
            if error is not None or face is None:
                errors.append((path_text(photo), path_text(error or "no face")))
                continue
            rows.append(_row(photo, 0, face))
            vectors.append(vector)
    dim = recognizer.weights.embedding_size
    return rows, np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32), errors


def _row(photo: Path, number: int, face: Any) -> dict[str, Any]:
    x1, y1, x2, y2 = (round(float(v), 1) for v in face.box)
    return {"path": path_text(photo), "face": number, "x1": x1, "y1": y1, "x2": x2, "y2": y2,
            "score": round(float(face.score), 4), "detector": face.detector}


def _write_part(parts: Path, number: int, rows: list[dict[str, Any]], vectors: np.ndarray,
                errors: list[tuple[str, str]]) -> None:
    """One chunk: its embeddings, then its table of faces and failures (the table marks it done)."""
    name = f"{number:06d}"
    with atomic_path(parts / f"{name}.npy") as tmp:
        np.save(tmp, vectors)
    with atomic_path(parts / f"{name}.csv") as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*FACE_COLUMNS, "error"])
        writer.writeheader()
        writer.writerows({**row, "error": ""} for row in rows)
        writer.writerows({"path": path, "face": "", "error": error} for path, error in errors)


def _merge(out: Path, index_format: IndexFormat, dim: int) -> tuple[int, list[tuple[str, str]]]:
    """Join the parts into embeddings.npy, faces.<format> and errors.csv (each replaced atomically)."""
    rows: list[dict[str, Any]] = []
    errors: list[tuple[str, str]] = []
    vectors: list[np.ndarray] = []
    for table in sorted((out / "parts").glob("*.csv")):
        faces, part, failed = _read_part(out, table, dim)
        vectors.append(part)
        rows.extend(faces)
        errors.extend(failed)
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32)
    with atomic_path(out / "embeddings.npy") as tmp:
        np.save(tmp, matrix)
    _write_index(out, rows, index_format)
    with atomic_path(out / "errors.csv") as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "error"])
        writer.writerows(errors)
    return len(matrix), errors


def _typed(column: str, value: str) -> Any:
    if column in ("face",):
        return int(value)
    if column in ("x1", "y1", "x2", "y2", "score"):
        return float(value)
    return value


def _write_index(out: Path, rows: list[dict[str, Any]], index_format: IndexFormat) -> None:
    for stale in ("faces.csv", "faces.json", "faces.parquet"):
        if not stale.endswith(index_format):
            (out / stale).unlink(missing_ok=True)
    target = out / f"faces.{index_format}"
    with atomic_path(target) as tmp:
        if index_format == "json":
            tmp.write_text(json.dumps(rows, indent=1), encoding="utf-8")
        elif index_format == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows), tmp)
        else:
            with tmp.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(FACE_COLUMNS))
                writer.writeheader()
                writer.writerows(rows)


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise FaceRecError("--index-format parquet needs pyarrow (pip install pyarrow)") from None

