"""Layer tables like the textbook ones: output shape, activation size and parameters of each layer.

Shapes are found by running one zero image through the network with forward hooks, so they are the
shapes the built model really produces. Shapes print as (H, W, C) like the textbooks; parameters of
a layer called twice are counted once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["LayerRow", "Summary", "conv_output_size", "summarize", "transpose_notes", "transpose_output_size"]

# Layers without parameters that do not change the shape: left out of the table unless asked for.
_QUIET = (nn.ReLU, nn.ReLU6, nn.Tanh, nn.Sigmoid, nn.Dropout, nn.Flatten, nn.Identity, nn.Softmax)


def conv_output_size(n: int, f: int, s: int = 1, p: int = 0) -> int:
    """The output size floor((n + 2p - f) / s + 1) of a convolution or pool.

    >>> conv_output_size(32, 5), conv_output_size(32, 5, p=2), conv_output_size(7, 3, s=2)
    (28, 32, 3)
    """
    if n <= 0 or f <= 0 or s <= 0 or p < 0:
        raise ValueError("need n, f, s > 0 and p >= 0")
    return math.floor((n + 2 * p - f) / s + 1)


def transpose_output_size(n: int, f: int, s: int = 1, p: int = 0, output_padding: int = 0) -> int:
    """The output size (n - 1) * s - 2p + f of a transpose convolution (plus ``output_padding``).

    >>> transpose_output_size(4, 2, s=2), transpose_output_size(7, 3, s=2, p=1, output_padding=1)
    (8, 14)
    """
    if n <= 0 or f <= 0 or s <= 0 or p < 0 or output_padding < 0:
        raise ValueError("need n, f, s > 0 and p, output_padding >= 0")
    return (n - 1) * s - 2 * p + f + output_padding


@dataclass(frozen=True)
class LayerRow:
    """One layer: dotted name, class, output shape (H, W, C) or (features,), activations, parameters."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    activations: int
    params: int

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "output_shape": list(self.output_shape),
                "activations": self.activations, "params": self.params}


@dataclass(frozen=True)
class Summary:
    """A layer table and its totals (``total_params`` counts every parameter, run or not)."""

    input_shape: tuple[int, int, int]
    rows: tuple[LayerRow, ...]
    total_params: int
    trainable_params: int
    total_activations: int

    def row(self, name: str) -> LayerRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict[str, object]:
        return {"input_shape": list(self.input_shape), "layers": [row.to_dict() for row in self.rows],
                "total_params": self.total_params, "trainable_params": self.trainable_params,
                "total_activations": self.total_activations}

    def format(self) -> str:
        """The table as text, with thousands separators."""
        width = max([len(row.name) + len(row.kind) + 3 for row in self.rows] + [20])
        lines = [f"{'layer':<{width}} {'output shape':>16} {'activations':>12} {'params':>13}"]
        lines.append("-" * len(lines[0]))
        shape_in = "(" + ",".join(map(str, self.input_shape)) + ")"
        lines.append(f"{'input':<{width}} {shape_in:>16} {math.prod(self.input_shape):>12,} {'':>13}")
        for row in self.rows:
            label = f"{row.name} ({row.kind})"
            shape = "(" + ",".join(map(str, row.output_shape)) + ")"
            lines.append(f"{label:<{width}} {shape:>16} {row.activations:>12,} {row.params:>13,}")
        lines.append("-" * len(lines[0]))
        lines.append(f"total params {self.total_params:,} (trainable {self.trainable_params:,}); "
                     f"activations per image {self.total_activations:,}")
        unused = self.total_params - sum(row.params for row in self.rows)
        if unused > 0:
            lines.append(f"({unused:,} params are in layers not run in eval mode, e.g. auxiliary classifiers)")
        return "\n".join(lines)


def summarize(model: nn.Module, input_size: tuple[int, int, int], *, depth: int | None = None,
              all_layers: bool = False) -> Summary:
    """Run one zero image of ``input_size`` (H, W, C) through ``model`` and tabulate its layers.

    ``depth`` None lists the leaf layers; ``depth=1`` the top-level blocks, and so on. Activation
    and parameter-free shape-keeping layers (ReLU, dropout, flatten) are hidden unless ``all_layers``.
    """
    height, width, channels = input_size
    rows: list[LayerRow] = []
    seen: set[int] = set()
    handles = []
    for name, module in _modules_at(model, depth):
        if not all_layers and isinstance(module, _QUIET):
            continue
        handles.append(module.register_forward_hook(_recorder(name, module, rows, seen)))
    was_training = model.training
    try:
        model.eval()
        with torch.inference_mode():
            model(torch.zeros(1, channels, height, width, device=_device(model)))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    params = list(model.parameters())
    return Summary(
        input_shape=(height, width, channels),
        rows=tuple(rows),
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_activations=sum(row.activations for row in rows),
    )


def _modules_at(model: nn.Module, depth: int | None) -> list[tuple[str, nn.Module]]:
    chosen = []
    for name, module in model.named_modules():
        if not name:
            continue
        level = name.count(".") + 1
        is_leaf = not any(True for _ in module.children())
        if (depth is None and is_leaf) or (depth is not None and (level == depth or (is_leaf and level < depth))):
            chosen.append((name, module))
    return chosen


def _recorder(name: str, module: nn.Module, rows: list[LayerRow], seen: set[int]):
    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        tensor = _first_tensor(output)
        shape = tuple(tensor.shape[1:]) if tensor is not None else ()
        if len(shape) == 3:  # C, H, W -> H, W, C
            shape = (shape[1], shape[2], shape[0])
        params = 0 if id(module) in seen else sum(p.numel() for p in module.parameters())
        seen.add(id(module))
        rows.append(LayerRow(name, type(module).__name__, shape, math.prod(shape) if shape else 0, params))

    return hook


def _first_tensor(output: object) -> Tensor | None:
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _device(model: nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def transpose_notes(model: nn.Module, input_size: tuple[int, int, int]) -> list[str]:
    """One line per transpose convolution: its input side and the rule (n - 1) * s - 2p + f worked out."""
    notes: list[str] = []
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, nn.ConvTranspose2d):
            def hook(layer: nn.ConvTranspose2d, inputs: tuple[Tensor, ...], _output: Tensor, name: str = name) -> None:
                padding = layer.padding
                assert not isinstance(padding, str)  # noqa: S101 - a transpose convolution's padding is numeric
                n, f, s, p = inputs[0].shape[-1], layer.kernel_size[1], layer.stride[1], padding[1]
                out = transpose_output_size(n, f, s, p, layer.output_padding[1])
                notes.append(f"{name}: ({n} - 1) * {s} - 2 * {p} + {f} = {out}")

            handles.append(module.register_forward_hook(hook))
    height, width, channels = input_size
    was_training = model.training
    try:
        model.eval()
        with torch.inference_mode():
            model(torch.zeros(1, channels, height, width, device=_device(model)))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return notes
