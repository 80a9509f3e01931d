"""Errors raised by facerec. Every one derives from :class:`FaceRecError`.

The CLI turns any of them into one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

from pathlib import Path

from index.errors import FaceRecError

__all__ = [
    "FaceRecError",
    "ImageReadError",
    "ImageTooLargeError",
    "NoFaceError",
    "MultipleFacesError",
    "DuplicateFaceError",
    "UnknownModelError",
    "PrecisionError",
    "WeightsNotFoundError",
    "WeightsHashError",
    "WeightsError",
    "OnnxExportError",
    "DatasetError",
    "FaceRecWarning",
    "MissingExtraError",
]




class ImageReadError(FaceRecError):
    """An image could not be read: missing, empty, truncated or not an image."""

    def __init__(self, source: str | Path, reason: str) -> None:
        self.source = str(source)
        self.reason = reason
        super().__init__(f"cannot read image {self.source}: {reason}")


class ImageTooLargeError(ImageReadError):
    """An image has more pixels than the configured limit (decompression-bomb guard)."""


class NoFaceError(FaceRecError):
    """No face was detected where one was required."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__(f"no face detected in {source}")


class MultipleFacesError(FaceRecError):
    """Several faces were found where exactly one was required."""

    def __init__(self, source: str, count: int) -> None:
        self.source = source
        self.count = count
        super().__init__(f"{count} faces detected in {source}, but exactly one is required",
                         hint="drop --require-single to use the largest")


class DuplicateFaceError(FaceRecError):
    """A face to enroll under one name matches another enrolled person."""

    def __init__(self, name: str, other: str, score: float, threshold: float) -> None:
        self.name, self.other, self.score, self.threshold = name, other, score, threshold
        super().__init__(
            f"the face to enroll as {name!r} matches {other!r} already enrolled (score {score:.3f} >= "
            f"{threshold:.3f}); the same person under two names?", hint="--allow-duplicate to enroll anyway")


class UnknownModelError(FaceRecError):
    """A model or weights name that is not registered."""


class PrecisionError(FaceRecError):
    """int8 asked for where it cannot run: no calibration for the weights, or the PyTorch backend."""


class WeightsNotFoundError(FaceRecError):
    """A weights file is not on disk and could not be downloaded."""


class WeightsHashError(FaceRecError):
    """A weights file does not have the sha256 recorded for it."""


class WeightsError(FaceRecError):
    """A weights file cannot be used: not a PyTorch file, not a state_dict, or one of another network."""


class OnnxExportError(FaceRecError):
    """A network cannot be exported to ONNX (callers that can run it in PyTorch do so instead)."""


class DatasetError(FaceRecError):
    """A pairs file or dataset folder is missing or malformed."""


class MissingExtraError(FaceRecError, ImportError):
    """A feature needs an optional part of facerec that is not installed; the message names the extra to
    install (``pip install 'facerec[torch]'``, see :mod:`facerec.extras`)."""


class FaceRecWarning(RuntimeWarning):
    """A notice facerec gives and carries on (e.g. a fallback to fp32): the one kind of warning the CLI shows,
    as one line on stderr (the others, from the libraries below, are silenced there)."""
