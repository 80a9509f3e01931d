"""Loading a weights file into a network: only plain tensors are read, and a file that does not fit says why.

``torch.load`` runs with ``weights_only=True`` (a pickle of anything else could run code) on the bytes
already read (and hashed) by the caller. Every way a file can be wrong (not a PyTorch file, cut short, a
pickle of something other than tensors, a ``state_dict`` of another network) becomes one
:class:`~facerec.errors.WeightsError` line instead of a traceback.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable

from facerec.errors import WeightsError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["load_state"]

_ZIP = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6


def load_state(net: nn.Module, data: bytes, *, source: str, model: str,
               rename: Callable[[str], str] | None = None) -> None:
    """Load the ``state_dict`` in ``data`` (a weights file's bytes) into ``net``, every tensor of it.

    ``source`` names the file and ``model`` the network in messages; ``rename`` maps the file's keys
    to the network's (e.g. to drop a ``module.`` prefix).

    >>> from torch import nn
    >>> load_state(nn.Linear(2, 2), b"not weights", source="a", model="linear")
    Traceback (most recent call last):
    ...
    facerec.errors.WeightsError: cannot load weights file a: it is not a PyTorch weights file (torch.save writes them)
    """
    state = _read(data, source)
    if not isinstance(state, Mapping):
        raise WeightsError(f"cannot load weights file {source}: it holds a {type(state).__name__}, not a state_dict "
                           "(a dict of tensors, as torch.save(model.state_dict(), path) writes)")
    if rename is not None:
        state = {rename(str(key)): value for key, value in state.items()}
    try:
        result = net.load_state_dict(state, strict=False)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise WeightsError(f"weights file {source} does not fit {model}: {_detail(exc)}") from None
    if result.missing_keys or result.unexpected_keys:
        raise WeightsError(f"weights file {source} does not fit {model}: {_mismatch(state, result)}; "
                           "was it saved from another model (--model)?")


def _read(data: bytes, source: str) -> Any:
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4 in the checkpoint"
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises what its unpicklers and zip reader raise
        raise WeightsError(f"cannot load weights file {source}: {_why(data, exc)}") from None


def _why(data: bytes, exc: Exception) -> str:
    import pickle

    if not data:
        return "it is empty"
    if not data.startswith(_ZIP):
        if isinstance(exc, pickle.UnpicklingError):
            return "it is not a PyTorch weights file (torch.save writes them)"
        return f"it is not a PyTorch weights file, or is cut short ({_detail(exc)})"
    if isinstance(exc, pickle.UnpicklingError):
        return ("it holds Python objects other than tensors (a whole pickled model, numpy arrays...), which "
                "facerec does not load, as loading them could run code; save model.state_dict() instead")
    return f"it is damaged or cut short ({_detail(exc)})"


def _mismatch(state: Mapping[str, Any], result: Any) -> str:
    parts = []
    if result.missing_keys:
        parts.append(f"{len(result.missing_keys)} of the network's tensors are not in it "
                     f"(e.g. {result.missing_keys[0]!r})")
    if result.unexpected_keys:
        parts.append(f"{len(result.unexpected_keys)} of its {len(state)} entries are not the network's "
                     f"(e.g. {result.unexpected_keys[0]!r})")
    return " and ".join(parts)


def _detail(exc: BaseException, limit: int = 200) -> str:
    """The informative line of an exception: load_state_dict's first line only says 'Error(s) in loading'."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    line = (lines[1] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else
            lines[0] if lines else type(exc).__name__)
    return line if len(line) <= limit else line[: limit - 3] + "..."
