"""Neural style transfer (Gatys, Ecker & Bethge 2015): optimise the pixels of a generated image G.

    J(G) = alpha * J_content(C, G) + beta * J_style(S, G)

with the costs written as in the deep-learning course this project follows:

- ``J_content = 1 / (4 n_H n_W n_C) * sum (a_C - a_G)^2`` on one layer's activations;
- ``J_style = sum_l lambda_l * J_style^[l]``, ``J_style^[l] = 1 / (2 n_H n_W n_C)^2 * sum (G_S - G_G)^2``,
  where ``G = A A^T`` is the Gram matrix of the layer's activations unrolled to ``n_C x (n_H n_W)``.

The feature network is pluggable (:mod:`facerec.zoo.style_features`); the optimiser is L-BFGS (as in
the paper's reference code) or Adam.

>>> import torch
>>> a = torch.ones(1, 2, 1, 1)
>>> float(content_cost(a, torch.zeros(1, 2, 1, 1)))  # 2 / (4 * 1 * 1 * 2)
0.25
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from facerec.errors import FaceRecError, ImageReadError
from facerec.progress import tqdm
from facerec.zoo.style_features import FeatureNet, get_feature_net

__all__ = ["StyleConfig", "StyleResult", "StyleStep", "content_cost", "gram_matrix", "layer_style_cost",
           "load_image", "save_image", "style_cost", "stylize", "total_cost"]

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content+noise", "content", "noise")


def _check_activation(a: Tensor) -> Tensor:
    if a.dim() == 3:
        a = a.unsqueeze(0)
    if a.dim() != 4 or a.shape[0] != 1:
        raise FaceRecError(f"expected one image's activations (1 x n_C x n_H x n_W), got shape {tuple(a.shape)}")
    return a


def _check_pair(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    a, b = _check_activation(a), _check_activation(b)
    if a.shape != b.shape:
        raise FaceRecError(f"activations of different shapes: {tuple(a.shape)} and {tuple(b.shape)}")
    return a, b


def content_cost(a_C: Tensor, a_G: Tensor) -> Tensor:
    """``1 / (4 n_H n_W n_C) * sum((a_C - a_G)^2)`` for activations of shape (1, n_C, n_H, n_W)."""
    a_C, a_G = _check_pair(a_C, a_G)
    _, n_C, n_H, n_W = a_G.shape
    return (a_C - a_G).pow(2).sum() / (4 * n_H * n_W * n_C)


def gram_matrix(a: Tensor) -> Tensor:
    """``A A^T`` with ``A`` the activations unrolled to ``n_C x (n_H n_W)``: channel correlations."""
    a = _check_activation(a)
    unrolled = a.reshape(a.shape[1], -1)
    return unrolled @ unrolled.T


def layer_style_cost(a_S: Tensor, a_G: Tensor) -> Tensor:
    """``1 / (2 n_H n_W n_C)^2 * ||Gram(a_S) - Gram(a_G)||_F^2`` for one layer."""
    a_S, a_G = _check_pair(a_S, a_G)
    _, n_C, n_H, n_W = a_G.shape
    return (gram_matrix(a_S) - gram_matrix(a_G)).pow(2).sum() / (2 * n_H * n_W * n_C) ** 2


def style_cost(style: dict[str, Tensor], generated: dict[str, Tensor], weights: dict[str, float]) -> Tensor:
    """``sum_l lambda_l * J_style^[l]`` over the layers named in ``weights`` (layer -> lambda_l)."""
    if not weights:
        raise FaceRecError("the style cost needs at least one layer")
    return sum(w * layer_style_cost(style[layer], generated[layer]) for layer, w in weights.items())  # type: ignore


def total_cost(j_content: Tensor, j_style: Tensor, alpha: float = 10.0, beta: float = 40.0) -> Tensor:
    """``alpha * J_content + beta * J_style`` (the course's defaults: alpha 10, beta 40)."""
    return alpha * j_content + beta * j_style


@dataclass(frozen=True)
class StyleConfig:
    """One style-transfer run. ``style_layers`` None takes the network's defaults, each weighted 1/L;
    ``weights`` is a VGG-19 file of the caller's own for ``net="vgg19"``."""

    net: str = "vgg19"
    weights: str | None = None
    content_layer: str | None = None
    style_layers: tuple[str, ...] | None = None
    content_weight: float = 1.0
    style_weight: float = 1e4
    steps: int = 300
    optimizer: str = "lbfgs"
    lr: float | None = None
    size: int = 256
    init: str = "content+noise"
    seed: int = 0
    progress: bool = True


@dataclass(frozen=True)
class StyleStep:
    step: int
    total: float
    content: float
    style: float


@dataclass(frozen=True)
class StyleResult:
    """The generated image (1 x 3 x H x W in [0, 1]), the costs per step, the layers used.

    ``history[0]`` holds the costs of the starting image and ``history[k]`` those after k steps; the last
    entry is always the returned (clamped to [0, 1]) picture.
    """

    image: Tensor
    history: tuple[StyleStep, ...]
    net: str
    net_description: str
    content_layer: str
    style_layers: tuple[str, ...]
    seconds: float = field(default=0.0)


def load_image(source: str | Path, size: int | None = None) -> Tensor:
    """An RGB image as 1 x 3 x H x W floats in [0, 1], its longer side resized to ``size``.

    ``source`` is a file, or ``skimage:NAME`` for a picture that scikit-image ships (``skimage:chelsea``).
    """
    text = str(source)
    if text.startswith("skimage:"):
        picture = _skimage_picture(text.split(":", 1)[1])
    else:
        try:
            picture = Image.open(text).convert("RGB")
        except (OSError, ValueError) as exc:
            raise ImageReadError(text, str(exc)) from None
    if size is not None:
        scale = size / max(picture.size)
        picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                                 Image.Resampling.LANCZOS)
    array = np.asarray(picture, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def save_image(image: Tensor, path: str | Path) -> Path:
    """Write a 1 x 3 x H x W (or 3 x H x W) [0, 1] tensor as an 8-bit PNG/JPEG."""
    array = image.detach().cpu().squeeze(0).clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _skimage_picture(name: str) -> Image.Image:
    try:
        import skimage.data
    except ImportError:
        raise FaceRecError("skimage: pictures need scikit-image (pip install 'facerec[generative]')") from None
    loader = getattr(skimage.data, name, None)
    if loader is None or not callable(loader):
        raise FaceRecError(f"scikit-image has no picture {name!r} (try chelsea, astronaut, coffee, rocket)")
    array = np.asarray(loader())
    if array.ndim != 3 and array.ndim != 2:
        raise FaceRecError(f"skimage:{name} is not a 2-D picture")
    return Image.fromarray(array.astype(np.uint8)).convert("RGB")


def stylize(content: Tensor, style: Tensor, config: StyleConfig, net: FeatureNet | None = None) -> StyleResult:
    """Paint ``content`` in the style of ``style`` (both 1 x 3 x H x W in [0, 1]).

    The style picture is resized to the content's size, so the Gram matrices of both images count the
    same number of positions.

    >>> result = stylize(load_image("skimage:chelsea", 128), load_image("skimage:coffee", 128),
    ...                  StyleConfig(net="mobilefacenet", steps=50))  # doctest: +SKIP
    """
    _check(config)
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    net = net or get_feature_net(config.net, seed=config.seed, weights=config.weights)
    content_layer = config.content_layer or net.content_layer
    style_layers = tuple(config.style_layers or net.style_layers)
    lambdas = {layer: 1.0 / len(style_layers) for layer in style_layers}
    style = F.interpolate(style, size=content.shape[2:], mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        a_C = net.features(content, [content_layer])[content_layer]
        a_S = net.features(style, list(style_layers))
    generated = _initial(content, config.init).requires_grad_(True)
    optimizer = _optimizer(config, generated)
    costs: dict[int, tuple[float, float, float]] = {}  # iteration -> costs of its last evaluation
    bar = tqdm(total=config.steps, desc="style transfer", unit="step", disable=not config.progress)

    def evaluate() -> tuple[Tensor, Tensor, Tensor]:
        optimizer.zero_grad(set_to_none=True)
        feats = net.features(generated, [content_layer, *style_layers])
        j_content = content_cost(a_C, feats[content_layer])
        j_style = style_cost(a_S, feats, lambdas)
        cost = total_cost(j_content, j_style, config.content_weight, config.style_weight)
        cost.backward()
        return cost, j_content, j_style

    def closure() -> Tensor:
        cost, j_content, j_style = evaluate()
        # L-BFGS counts its iterations in its state; its line search may evaluate several points per iteration,
        # the last of which is the one it accepts.
        step = optimizer.state[generated].get("n_iter", 0) if config.optimizer == "lbfgs" else len(costs)
        costs[step] = (cost.item(), j_content.item(), j_style.item())
        bar.update(step - bar.n)
        bar.set_postfix(J=f"{cost.item():.4g}")
        return cost

    if config.optimizer == "lbfgs":
        optimizer.step(closure)  # type: ignore[arg-type]  # one call runs all ``steps`` iterations and keeps its curvature pairs intact
    else:
        for _ in range(config.steps):
            optimizer.step(closure)  # type: ignore[arg-type]
            with torch.no_grad():  # projected gradient: the pixels stay in [0, 1]
                generated.clamp_(0, 1)
    bar.close()
    with torch.no_grad():
        generated.clamp_(0, 1)  # L-BFGS runs unconstrained; the picture is the clamped result
    cost, j_content, j_style = evaluate()
    costs[max(costs) + 1 if config.optimizer == "adam" else max(costs)] = (cost.item(), j_content.item(),
                                                                            j_style.item())
    history = tuple(StyleStep(step, *values) for step, values in sorted(costs.items()))
    return StyleResult(generated.detach(), history, net.name, net.description, content_layer, style_layers,
                       time.perf_counter() - started)


def _initial(content: Tensor, init: str) -> Tensor:
    if init == "content":
        return content.clone()
    if init == "noise":
        return torch.rand_like(content)
    return (content + torch.empty_like(content).uniform_(-0.25, 0.25)).clamp(0, 1)


def _optimizer(config: StyleConfig, image: Tensor) -> torch.optim.Optimizer:
    if config.optimizer == "lbfgs":
        # the iteration count, not the evaluation budget (5/4 of it by default), ends the run
        return torch.optim.LBFGS([image], lr=config.lr or 1.0, max_iter=config.steps, max_eval=4 * config.steps,
                                 history_size=50, tolerance_grad=0.0, tolerance_change=0.0,
                                 line_search_fn="strong_wolfe")
    return torch.optim.Adam([image], lr=config.lr or 0.02)


def _check(config: StyleConfig) -> None:
    if config.optimizer not in OPTIMIZERS:
        raise FaceRecError(f"unknown optimizer {config.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
    if config.init not in INITS:
        raise FaceRecError(f"unknown init {config.init!r}; known: {', '.join(INITS)}")
    if config.steps < 1 or config.size < 16:
        raise FaceRecError("style transfer needs at least 1 step and a size of at least 16 pixels")
    if config.content_weight < 0 or config.style_weight < 0:
        raise FaceRecError("the content and style weights must not be negative")
