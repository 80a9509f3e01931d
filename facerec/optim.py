"""What ``train/`` and ``zoo/`` share: the optimizer factory and freezing layers.

>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Linear(2, 1))
>>> freeze_parameters(net, lambda name: name.startswith(("0.", "1.")))
['0.weight', '0.bias', '1.weight', '1.bias']
>>> train_unfrozen(net); net[1].training, net[2].training
(False, True)
>>> type(make_optimizer("adam", net.parameters(), lr=1e-3)).__name__
'Adam'
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
from torch import nn

from facerec.errors import FaceRecError

__all__ = ["OPTIMIZERS", "make_optimizer", "freeze_parameters", "train_unfrozen"]

OPTIMIZERS = ("sgd", "adam", "rmsprop")


def make_optimizer(name: str, params: Iterable[Any], *, lr: float, momentum: float = 0.9,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``sgd`` (with ``momentum``), ``adam`` or ``rmsprop`` over ``params`` (tensors or param groups)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise FaceRecError(f"unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}")


def freeze_parameters(net: nn.Module, frozen: Callable[[str], bool]) -> list[str]:
    """Freeze every parameter whose name ``frozen`` accepts, unfreeze the others; the frozen names."""
    names = []
    for name, parameter in net.named_parameters():
        parameter.requires_grad_(not frozen(name))
        if frozen(name):
            names.append(name)
    return names


def train_unfrozen(net: nn.Module) -> None:
    """``net.train()``, except modules whose own parameters are all frozen: they stay in eval mode,
    so a frozen batch norm keeps its running statistics."""
    net.train()
    for module in net.modules():
        own = list(module.parameters(recurse=False))
        if own and not any(p.requires_grad for p in own):
            module.eval()
