"""Embedders the user adds: an ONNX file and a small spec, kept in the user's model folder.

``facerec models add NAME FILE --mean ... --std ...`` checks the file (it opens in onnxruntime, takes
``N x 3 x S x S`` and gives one vector per face), copies it to ``<models folder>/NAME/model.onnx`` and writes
the spec beside it (``spec.json``, with the file's sha256, checked on every use). ``--model NAME`` then runs
it wherever a model is chosen. Its embedding space is named by its content (``NAME:<sha256 prefix>``), so a
gallery enrolled with it refuses another model's probes, and another file added under the same name.

>>> spec = EmbedderSpec(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
>>> spec.alignment().size
112
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from platformdirs import user_data_dir

from facerec.alignment import ARCFACE_TEMPLATE_112, Alignment
from facerec.errors import FaceRecError, UnknownModelError, WeightsHashError
from facerec.fileio import atomic_path, sha256_file
from facerec.models.weights import Weights

__all__ = ["COLOURS", "TEMPLATES", "EmbedderSpec", "ModelSpecError", "add_model", "custom_model_path",
           "custom_weights", "list_custom_models", "models_dir", "remove_model"]

#: Alignments a spec may name: the ArcFace five-point template (scaled to the input size), or the detector's
#: box resized (as facenet-pytorch's models were trained).
TEMPLATES: tuple[str, ...] = ("arcface", "box")
COLOURS: tuple[str, ...] = ("rgb", "bgr")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MODEL_FILE, SPEC_FILE = "model.onnx", "spec.json"


class ModelSpecError(FaceRecError):
    """A model spec or ONNX file that cannot be used as an embedder (says which field, or what the file lacks)."""


def models_dir() -> Path:
    """The user's model folder: ``$FACEREC_MODELS_DIR``, else ``models/`` in the user's data folder."""
    env = os.environ.get("FACEREC_MODELS_DIR", "").strip()
    return Path(env).expanduser() if env else Path(user_data_dir("facerec")) / "models"


@dataclass(frozen=True, kw_only=True)
class EmbedderSpec:
    """How to feed an ONNX face embedder and read it, as its README states.

    Pixels are scaled to [0, 1] first, then ``(x - mean) / std`` per channel in ``colour`` order (a model that
    wants ``(x - 127.5) / 128`` on 0-255 pixels has mean 0.5 and std 0.50196). ``template``: ``arcface`` (the
    112x112 five-point template, scaled to ``input_size``) or ``box``. ``threshold`` is the cosine similarity
    from which two faces are the same person (measure it with ``facerec eval pairs --model NAME``);
    ``identify_threshold`` the stricter one for 1:N (default: ``threshold``). ``embedding_size`` is read from
    the file where it is fixed there.
    """

    input_size: int = 112
    colour: str = "rgb"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    template: str = "arcface"
    embedding_size: int | None = None
    threshold: float = 0.3
    identify_threshold: float | None = None
    license: str = ""
    url: str | None = None
    note: str = ""
    sha256: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", _triple("mean", self.mean))
        object.__setattr__(self, "std", _triple("std", self.std))
        size = self.input_size
        if isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= 1024:
            raise ModelSpecError(f"input_size must be a whole number of pixels from 16 to 1024, got {size!r}")
        for name, value, allowed in (("colour", self.colour, COLOURS), ("template", self.template, TEMPLATES)):
            if value not in allowed:
                raise ModelSpecError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if any(s <= 0 for s in self.std):
            raise ModelSpecError(f"std must be positive, got {self.std}")
        for name in ("threshold", "identify_threshold"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not -1.0 <= value <= 1.0):
                raise ModelSpecError(f"{name} must be a cosine similarity between -1 and 1, got {value!r}")
        if self.embedding_size is not None and (not isinstance(self.embedding_size, int) or self.embedding_size < 2):
            raise ModelSpecError(f"embedding_size must be a whole number of at least 2, got {self.embedding_size!r}")

    def alignment(self) -> Alignment:
        """The crop this model wants."""
        if self.template == "box":
            return Alignment(size=self.input_size, method="box")
        template = ARCFACE_TEMPLATE_112 * (self.input_size / 112.0)
        return Alignment(size=self.input_size, method="landmarks", template=tuple(map(tuple, template.tolist())))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmbedderSpec:
        """The spec ``data`` holds (a JSON object); an unknown key is refused, not ignored."""
        if not isinstance(data, Mapping):
            raise ModelSpecError("a model spec is a JSON object")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ModelSpecError(f"unknown spec field {unknown[0]!r}; known: {', '.join(sorted(names))}")
        values: dict[str, Any] = {key: tuple(value) if key in ("mean", "std") and isinstance(value, list) else value
                                  for key, value in data.items()}
        try:
            return cls(**values)
        except TypeError as exc:
            raise ModelSpecError(f"bad model spec: {exc}") from None


def _triple(name: str, value: Any) -> tuple[float, float, float]:
    try:
        items = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        items = ()
    if len(items) != 3:
        raise ModelSpecError(f"{name} must be three numbers (one per channel), got {value!r}")
    return items  # type: ignore[return-value]


def add_model(name: str, file: str | Path, spec: EmbedderSpec, *, replace: bool = False) -> Weights:
    """Check ``file`` against ``spec``, copy it into the user's model folder as ``name`` and return its entry.

    A name of a built-in model, or one already added (unless ``replace``), is refused; so is a file that is
    not an ONNX embedder of the spec's input size."""
    from facerec.models.embedders import is_builtin

    if not _NAME.match(name):
        raise ModelSpecError(f"a model name is lower-case letters, digits, '.', '_' or '-' (at most 64), got {name!r}")
    if is_builtin(name):
        raise ModelSpecError(f"{name!r} is a built-in model; choose another name")
    folder = models_dir() / name
    if (folder / SPEC_FILE).exists() and not replace:
        raise ModelSpecError(f"a model named {name!r} is already added ({folder}); remove it first, or --replace")
    source = Path(file).expanduser()
    if not source.is_file():
        raise ModelSpecError(f"model file {source} does not exist")
    embedding_size = _check_onnx(source, spec)
    digest = sha256_file(source)
    if spec.sha256 and spec.sha256 != digest:
        raise WeightsHashError(f"{source} does not have the sha256 the spec gives ({spec.sha256[:12]}...)")
    spec = EmbedderSpec.from_dict({**spec.to_dict(), "embedding_size": embedding_size, "sha256": digest})
    with atomic_path(folder / MODEL_FILE) as tmp:
        shutil.copyfile(source, tmp)
    with atomic_path(folder / SPEC_FILE) as tmp:
        tmp.write_text(json.dumps(spec.to_dict(), indent=1) + "\n")
    return _weights(name, spec)


def _check_onnx(path: Path, spec: EmbedderSpec) -> int:
    """The embedding size of the ONNX file ``path``, run once on a blank face; a clear error where it cannot be."""
    import numpy as np
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for every kind of bad file
        raise ModelSpecError(f"{path} is not an ONNX model onnxruntime can open ({_first_line(exc)})") from None
    inputs = session.get_inputs()
    shape = inputs[0].shape if len(inputs) == 1 else []
    if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
        raise ModelSpecError(f"{path} must take one input of N x 3 x H x W pixels; it takes "
                             f"{[(i.name, i.shape) for i in inputs]}")
    sides = [s for s in shape[2:] if isinstance(s, int)]
    if any(side != spec.input_size for side in sides):
        raise ModelSpecError(f"{path} takes {shape[2]}x{shape[3]} faces, not the spec's input_size {spec.input_size}")
    batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else 1
    blank = np.zeros((batch, 3, spec.input_size, spec.input_size), np.float32)
    try:
        out = session.run(None, {inputs[0].name: blank})[0]
    except Exception as exc:  # as above
        raise ModelSpecError(f"{path} does not run on {spec.input_size}x{spec.input_size} faces "
                             f"({_first_line(exc)})") from None
    if out.ndim != 2 or out.shape[0] != batch or out.shape[1] < 2:
        raise ModelSpecError(f"{path} must give one vector per face; its first output has shape {list(out.shape)}")
    if spec.embedding_size is not None and spec.embedding_size != out.shape[1]:
        raise ModelSpecError(f"{path} gives {out.shape[1]}-d embeddings, not the spec's {spec.embedding_size}")
    return int(out.shape[1])


def _first_line(exc: BaseException) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)[:200]


def remove_model(name: str) -> Path:
    """Remove the added model ``name`` (its folder); an unknown name lists the added ones."""
    folder = models_dir() / name
    if not _NAME.match(name) or not (folder / SPEC_FILE).is_file():
        raise UnknownModelError(f"no added model named {name!r}; added: {', '.join(list_custom_models()) or 'none'}")
    shutil.rmtree(folder)
    return folder


def list_custom_models() -> list[str]:
    """Names of the models in the user's model folder, sorted."""
    folder = models_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if _NAME.match(p.name) and (p / SPEC_FILE).is_file())


def custom_model_path(name: str) -> Path:
    """The ONNX file of the added model ``name``."""
    return models_dir() / name / MODEL_FILE


def custom_weights(name: str) -> Weights | None:
    """The entry of the added model ``name``, or None when there is none; a damaged spec is a clear error."""
    if not _NAME.match(name):
        return None
    path = models_dir() / name / SPEC_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ModelSpecError(f"the spec of model {name!r} ({path}) cannot be read: {exc}") from None
    spec = EmbedderSpec.from_dict(data)
    if not spec.sha256 or not spec.embedding_size:
        raise ModelSpecError(f"the spec of model {name!r} ({path}) has no sha256 or embedding_size; add it again")
    return _weights(name, spec)


def _weights(name: str, spec: EmbedderSpec) -> Weights:
    assert spec.sha256 is not None and spec.embedding_size is not None  # noqa: S101 - set by add_model
    threshold = float(spec.threshold)
    identify = threshold if spec.identify_threshold is None else max(threshold, float(spec.identify_threshold))
    return Weights(model=name, tag=spec.sha256[:12], filename=MODEL_FILE, url=spec.url, sha256=spec.sha256,
                   license=spec.license, note=spec.note or f"an ONNX model added by the user ({models_dir() / name})",
                   alignment=spec.alignment(), mean=spec.mean, std=spec.std, colour=spec.colour,
                   embedding_size=spec.embedding_size, threshold=threshold, identify_threshold=identify)
