"""Errors raised by facerec. Every one derives from :class:`FaceRecError`.

The CLI turns any of them into one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "FaceRecError",
    "ImageReadError",
    "ImageTooLargeError",
    "NoFaceError",
    "MultipleFacesError",
    "UnknownModelError",
    "WeightsNotFoundError",
    "WeightsHashError",
    "DatasetError",
]


class FaceRecError(Exception):
    """Base class of every error facerec raises on purpose."""


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
        super().__init__(
            f"{count} faces detected in {source}, but exactly one is required "
            "(drop --require-single to use the largest)"
        )


class UnknownModelError(FaceRecError):
    """A model or weights name that is not registered."""


class WeightsNotFoundError(FaceRecError):
    """A weights file is not on disk and could not be downloaded."""


class WeightsHashError(FaceRecError):
    """A weights file does not have the sha256 recorded for it."""


class DatasetError(FaceRecError):
    """A pairs file or dataset folder is missing or malformed."""
