"""Checkpoints of the zoo's dense-prediction networks (denoiser, U-Net, grid detector).

One ``.pt`` holds the architecture name, the keyword options its builder takes, the weights and a
few JSON-able facts (noise range, class names, anchors...). Written atomically, read with
``weights_only=True``, and refused with one clear line when it is not of the expected kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from facerec.errors import FaceRecError
from facerec.fileio import atomic_path

__all__ = ["DenseCheckpointError", "load_dense", "save_dense"]

from facerec.models.detectors.yolo_net import CHECKPOINT_FORMAT as FORMAT  # noqa: E402 - one source


class DenseCheckpointError(FaceRecError):
    """A dense-zoo checkpoint that is missing, unreadable or of another architecture."""


def save_dense(path: str | Path, arch: str, options: Mapping[str, Any], model: nn.Module, **extra: Any) -> Path:
    """Write ``model``'s weights with what rebuilds it (``arch`` and builder ``options``) to ``path``."""
    path = Path(path)
    payload = {"format": FORMAT, "arch": arch, "options": options,
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "extra": extra}
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)
    return path


def load_dense(path: str | Path, *, kinds: tuple[str, ...] = ()) -> tuple[nn.Module, dict[str, Any]]:
    """The rebuilt model (in eval mode) and the checkpoint's ``extra`` facts (plus ``arch``, ``options``).

    ``kinds`` limits the accepted architectures (e.g. ``("dncnn",)``).
    """
    from facerec.zoo.registry import get_spec

    path = Path(path)
    if not path.is_file():
        raise DenseCheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not our checkpoint"
        raise DenseCheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DenseCheckpointError(f"{path} is not a dense zoo checkpoint ({FORMAT})")
    arch = payload["arch"]
    if kinds and arch not in kinds:
        raise DenseCheckpointError(f"{path} holds a {arch}; expected {' or '.join(kinds)}")
    model = get_spec(arch).build(**payload["options"])
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, {**payload["extra"], "arch": arch, "options": payload["options"]}
