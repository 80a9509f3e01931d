"""Transfer learning: load a zoo checkpoint, give it a new head, freeze some or all of the rest.

``freeze`` says what stays fixed: ``"none"`` fine-tunes every layer, ``"head"`` trains only the new
head, an integer ``N`` freezes the first N layers that have parameters (in order of definition), and
a layer name freezes every layer up to and including that one (``"conv2"``, ``"layer3"``). Frozen
layers also keep their batch-norm statistics (see :func:`set_train_mode`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from torch import nn

from facerec.errors import FaceRecError
from facerec.fileio import atomic_path
from facerec.optim import freeze_parameters, train_unfrozen
from facerec.zoo.registry import ArchOptions, get_arch, get_spec

__all__ = ["PRETRAINED_PREFIX", "Checkpoint", "TransferError", "freeze_layers", "load_checkpoint", "param_groups",
           "pretrained_checkpoint", "replace_heads", "save_checkpoint", "set_train_mode"]

FORMAT = "facerec-zoo/1"
#: ``--from pretrained:mobilefacenet`` starts from the released face embedder instead of a file.
PRETRAINED_PREFIX = "pretrained:"


class TransferError(FaceRecError):
    """A checkpoint that cannot be read, or a freeze spec that names no layer."""


@dataclass(frozen=True)
class Checkpoint:
    """What a zoo checkpoint holds: enough to rebuild the model and its preprocessing."""

    arch: str
    classes: tuple[str, ...]
    in_channels: int
    input_size: tuple[int, int]
    options: ArchOptions
    mean: tuple[float, ...]
    std: tuple[float, ...]
    state_dict: dict[str, torch.Tensor]

    def build(self) -> nn.Module:
        """The model with the checkpoint's weights loaded."""
        model = get_arch(self.arch, num_classes=len(self.classes), in_channels=self.in_channels, **self.options)
        model.load_state_dict(self.state_dict, strict=True)
        return model


def save_checkpoint(path: str | Path, checkpoint: Checkpoint, **extra: object) -> Path:
    """Write ``checkpoint`` (plus ``extra`` metadata) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "arch": checkpoint.arch, "classes": list(checkpoint.classes),
               "in_channels": checkpoint.in_channels, "input_size": list(checkpoint.input_size),
               "options": dict(checkpoint.options), "mean": list(checkpoint.mean), "std": list(checkpoint.std),
               "state_dict": checkpoint.state_dict, "extra": extra}
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)
    return path


def pretrained_checkpoint(model: str = "mobilefacenet") -> Checkpoint:
    """The pretrained face embedder ``model`` as a zoo checkpoint, with its own input normalisation.

    Its head is a one-class placeholder: transfer replaces it. Weights come from ``FACEREC_WEIGHTS_DIR``
    or the cache, like :func:`facerec.models.get_model`.
    """
    from facerec.models import get_model
    from facerec.zoo.face_classifier import FaceClassifier

    if model != "mobilefacenet":
        raise TransferError(f"only pretrained:mobilefacenet has a zoo architecture, not {model!r}")
    embedder = get_model(model)
    classifier = FaceClassifier(num_classes=1, embedding_size=embedder.weights.embedding_size)
    classifier.backbone.load_state_dict(embedder.net.state_dict(), strict=True)
    size = embedder.weights.alignment.size
    return Checkpoint("mobilefacenet", ("placeholder",), 3, (size, size), {}, tuple(embedder.weights.mean),
                      tuple(embedder.weights.std), classifier.state_dict())


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors and plain values only), or
    ``pretrained:mobilefacenet`` (see :func:`pretrained_checkpoint`).
    """
    if str(path).startswith(PRETRAINED_PREFIX):
        return pretrained_checkpoint(str(path)[len(PRETRAINED_PREFIX) :])
    path = Path(path)
    if not path.is_file():
        raise TransferError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not our checkpoint"
        raise TransferError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TransferError(f"{path} is not a facerec zoo checkpoint")
    # the file's options are unchecked data: get_arch refuses any that the architecture does not take
    options = cast(ArchOptions, dict(payload["options"]))
    return Checkpoint(payload["arch"], tuple(payload["classes"]), int(payload["in_channels"]),
                      tuple(payload["input_size"]), options, tuple(payload["mean"]),
                      tuple(payload["std"]), payload["state_dict"])


def replace_heads(model: nn.Module, arch: str, num_classes: int) -> list[str]:
    """Swap every classification layer of ``arch`` for a fresh ``nn.Linear`` with ``num_classes`` outputs."""
    replaced = []
    for path in get_spec(arch).heads:
        parent_path, _, name = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        old = getattr(parent, name, None)
        if isinstance(old, nn.Linear):
            setattr(parent, name, nn.Linear(old.in_features, num_classes, bias=old.bias is not None))
            replaced.append(path)
    return replaced


def freeze_layers(model: nn.Module, arch: str, freeze: str) -> list[str]:
    """Freeze parameters as ``freeze`` says (see the module docstring); returns the frozen layer names."""
    heads = get_spec(arch).heads
    layers = [(name, module) for name, module in model.named_modules()
              if name and any(True for _ in module.parameters(recurse=False))]
    if freeze == "none":
        chosen: list[str] = []
    elif freeze == "head":
        chosen = [name for name, _ in layers if not _is_under(name, heads)]
    elif freeze.isdigit():
        if int(freeze) > len(layers):
            raise TransferError(f"--freeze {freeze}: {arch} has only {len(layers)} layers with parameters")
        chosen = [name for name, _ in layers[: int(freeze)]]
    else:
        names = [name for name, _ in layers]
        last = [i for i, name in enumerate(names) if name == freeze or name.startswith(freeze + ".")]
        if not last:
            raise TransferError(f"--freeze {freeze!r}: no such layer in {arch}; "
                                f"layers: {', '.join(names[:12])}{', ...' if len(names) > 12 else ''}")
        chosen = names[: last[-1] + 1]
    frozen = set(chosen)
    freeze_parameters(model, lambda parameter: parameter.rpartition(".")[0] in frozen)
    return chosen


#: ``model.train()``, except frozen layers, which stay in eval mode (batch norm keeps its statistics).
set_train_mode = train_unfrozen


def param_groups(model: nn.Module, arch: str, lr: float, head_lr: float | None) -> list[dict]:
    """Optimizer groups: the heads at ``head_lr`` (default ``lr``), every other trainable parameter at ``lr``."""
    heads = get_spec(arch).heads
    head: list[nn.Parameter] = []
    body: list[nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (head if _is_under(name, heads) else body).append(parameter)
    groups = [{"params": body, "lr": lr}] if body else []
    return groups + [{"params": head, "lr": lr if head_lr is None else head_lr}]


def _is_under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)
