"""Choosing the torch device from a user's ``--device`` value."""

from __future__ import annotations

import torch

from facerec.errors import FaceRecError

__all__ = ["resolve_device"]


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when a GPU exists, else CPU; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FaceRecError(f"--device {name} was asked for, but torch sees no GPU")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise FaceRecError(f"unknown --device {name!r}; use auto, cpu or cuda") from error
