"""One value for a pipeline's settings, built and checked where they enter, handed down whole.

:class:`PipelineConfig` holds everything that decides what a :class:`~facerec.recognizer.FaceRecognizer`
computes and how fast: the embedding model and its weights, the detector cascade, who places the
landmarks, the runtime, the arithmetic, threads, flip augmentation, a defence in front of the embedder, the
photo size limit and the detectors' own options (score threshold, NMS overlap, working size). The CLI (options
and ``FACEREC_*`` variables), the service (``ServeSettings.pipeline``), Ray bulk enrollment (each actor) and
the library all build their recognizer with :func:`~facerec.recognizer.build_recognizer`, so an option cannot be
dropped on the way by copying fields one at a time. Nothing here imports torch, nor the recognizer: the
recognizer's module imports this one (and the detector registry, when it builds a cascade).

>>> config = PipelineConfig(detectors=("yunet",), precision="fp32")
>>> config.detector
'yunet'
>>> PipelineConfig.from_dict(config.to_dict()) == config
True
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from facerec.errors import FaceRecError
from facerec.io import DEFAULT_MAX_PIXELS
from facerec.models.detectors import DEFAULT_DETECTOR, DEFAULT_LANDMARKS, LANDMARKS, list_detectors
from facerec.models.embedders import get_weights
from facerec.models.embedders.int8 import PRECISIONS
from facerec.runtime import BACKENDS

__all__ = ["ConfigError", "DEFAULT_MODEL", "DEFENCES", "PipelineConfig", "ROBUST_DEFENCE", "parse_detectors"]

#: The embedding model used unless ``--model`` / ``FACEREC_MODEL`` says otherwise.
DEFAULT_MODEL = "mobilefacenet"

#: The defence that ``--robust`` puts in front of the embedder (see the README).
ROBUST_DEFENCE = "jpeg"

#: Defences a config may name (:func:`facerec.defence.crop_defence`, imported only when one is used).
DEFENCES: tuple[str, ...] = ("jpeg", "resize")


class ConfigError(FaceRecError, ValueError):
    """A pipeline setting that is not valid (an unknown detector, a thread count under 1...)."""


def parse_detectors(text: str) -> tuple[str, ...]:
    """``"yunet, retinaface"`` (as ``--detector`` and ``FACEREC_DETECTOR`` give a cascade) as a tuple of names."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class PipelineConfig:
    """A recognizer's settings, checked once when made (a :class:`ConfigError` names the bad one).

    ``detectors`` is the cascade in order (the next looks where the earlier found no face); ``detect=False``
    takes every photo as a face crop already. ``threads`` None means ``FACEREC_THREADS`` or the cores.
    ``defence`` names a crop defence (``"jpeg"`` for ``--robust``), or None. ``even_light`` evens out strong
    side light on crops before they are embedded (:mod:`facerec.illumination`; a gallery keeps its own).

    The detector options apply to every detector of the cascade (None: each detector's own default):
    ``min_score`` the detector confidence from which a face is kept (YuNet's default 0.8, RetinaFace's and
    MTCNN's 0.9), ``nms_iou`` the overlap from which two boxes are one face (YuNet 0.3, RetinaFace 0.4; MTCNN
    has its own), ``max_side`` the longest side a photo is brought down to before detection (YuNet and
    RetinaFace 640, MTCNN 800). The config is handed whole to the detector builders
    (:func:`facerec.models.detectors.build_detector`).
    """

    model: str = DEFAULT_MODEL
    tag: str | None = None
    weights: str | None = None
    detectors: tuple[str, ...] = field(default_factory=lambda: parse_detectors(DEFAULT_DETECTOR))
    detect: bool = True
    landmarks: str = DEFAULT_LANDMARKS
    backend: str = "onnx"
    precision: str = "auto"
    threads: int | None = None
    flip: bool = True
    defence: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    even_light: bool = True
    min_score: float | None = None
    nms_iou: float | None = None
    max_side: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.detectors, str):  # "yunet,retinaface" as the CLI and the environment give it
            object.__setattr__(self, "detectors", parse_detectors(self.detectors))
        else:
            object.__setattr__(self, "detectors", tuple(self.detectors))
        self._check()

    def _check(self) -> None:
        try:
            get_weights(self.model, self.tag)  # an unknown model or tag: UnknownModelError, listing the known
        except FaceRecError as exc:
            raise ConfigError(str(exc)) from None
        known = list_detectors()
        if not self.detectors:
            raise ConfigError(f"no detector named; known detectors: {', '.join(known)}")
        for name in self.detectors:
            if name not in known:
                raise ConfigError(f"unknown detector {name!r}; known detectors: {', '.join(known)} "
                                  "(or several, comma-separated, as a cascade)")
        _choice("landmarks", self.landmarks, LANDMARKS)
        _choice("backend", self.backend, BACKENDS)
        _choice("precision", self.precision, PRECISIONS)
        if self.defence is not None:
            _choice("defence", self.defence, DEFENCES)
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ConfigError(f"threads must be a whole number of at least 1, got {self.threads!r}")
        if isinstance(self.max_pixels, bool) or not isinstance(self.max_pixels, int) or self.max_pixels < 1:
            raise ConfigError(f"max_pixels must be a whole number of at least 1, got {self.max_pixels!r}")
        for name, low, high in (("min_score", 0.0, 1.0), ("nms_iou", 0.0, 1.0)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not low < value <= high):
                raise ConfigError(f"{name} must be a number over {low:g} and at most {high:g}, got {value!r}")
        if self.max_side is not None and (isinstance(self.max_side, bool) or not isinstance(self.max_side, int)
                                          or self.max_side < 32):
            raise ConfigError(f"max_side must be a whole number of pixels of at least 32, got {self.max_side!r}")

    @property
    def detector(self) -> str:
        """The cascade as a registry name (``"yunet,retinaface"``)."""
        return ",".join(self.detectors)

    def detector_options(self, *names: str) -> dict[str, Any]:
        """The detector options among ``names`` that are set (not None), as keyword arguments."""
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    @property
    def robust(self) -> bool:
        return self.defence is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (for worker processes and Ray actors); :meth:`from_dict` makes the same config again."""
        data = asdict(self)
        data["detectors"] = list(self.detectors)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineConfig:
        """The config ``data`` describes; unknown keys are refused (a misspelt setting is not ignored)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown pipeline setting {unknown[0]!r}; known: {', '.join(sorted(names))}")
        return cls(**data)

    @classmethod
    def from_env(cls, **settings: Any) -> PipelineConfig:
        """``settings``, else the ``FACEREC_*`` variables (MODEL, DETECTOR, LANDMARKS, BACKEND, PRECISION,
        THREADS), else the defaults: what a library caller or a worker gets without a command line."""
        env = {"model": "FACEREC_MODEL", "detectors": "FACEREC_DETECTOR", "landmarks": "FACEREC_LANDMARKS",
               "backend": "FACEREC_BACKEND", "precision": "FACEREC_PRECISION", "threads": "FACEREC_THREADS"}
        values = dict(settings)
        for key, variable in env.items():
            text = os.environ.get(variable, "").strip()
            if key not in values and text:
                values[key] = _whole(variable, text) if key == "threads" else text
        return cls.from_dict(values)

    def with_(self, **changes: Any) -> PipelineConfig:
        """A copy with ``changes`` (checked again)."""
        return replace(self, **changes)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def _whole(variable: str, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{variable} must be a whole number of at least 1, got {text!r}")
    return int(text)
