"""The error raised for a bad attack, defence or robustness-report argument."""

from __future__ import annotations

from facerec.errors import FaceRecError

__all__ = ["RobustnessError"]


class RobustnessError(FaceRecError, ValueError):
    """An attack or defence was given inputs it cannot work with (shape, range, eps, steps...)."""
