"""A figure of segmentation results: input canvases, true labels, and each checkpoint's prediction."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from facerec.zoo.dense_checkpoint import load_dense
from facerec.zoo.m2nist import BACKGROUND, make_canvases
from facerec.zoo.segment import predict

__all__ = ["save_segmentation_figure"]


def save_segmentation_figure(checkpoints: list[str], path: Path, *, data: str = "m2nist", seed: int = 0,
                             count: int = 6) -> Path:
    """Rows: input, truth, then one row per checkpoint; ``count`` held-out canvases as columns."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    if data != "m2nist":
        from facerec.zoo.m2nist import load_mask_folder

        images, masks = load_mask_folder(data)
    else:
        images, masks = make_canvases("test", count, seed=seed + 7)
    images, masks = images[:count], masks[:count]
    models = [(facts["arch"], model) for model, facts in (load_dense(c) for c in checkpoints)]
    tab10 = matplotlib.colormaps["tab10"]
    assert isinstance(tab10, ListedColormap)  # noqa: S101 - tab10 is a qualitative (listed) colormap
    # the stub types ``colors`` as anything the constructor accepts; tab10 keeps its ten RGB tuples
    tab10_colours = cast("tuple[tuple[float, float, float], ...]", tab10.colors)
    colours = ListedColormap(list(tab10_colours) + [(0.0, 0.0, 0.0)])
    rows = [("input", None)] + [("truth", masks.numpy())] + [(name, predict(m, images).numpy()) for name, m in models]
    figure, axes = plt.subplots(len(rows), count, figsize=(1.4 * count, 1.45 * len(rows)), squeeze=False)
    for r, (label, labels) in enumerate(rows):
        for c in range(count):
            axis = axes[r][c]
            if labels is None:
                axis.imshow(images[c, 0].numpy(), cmap="gray", vmin=0, vmax=255)
            else:
                axis.imshow(labels[c], cmap=colours, vmin=0, vmax=BACKGROUND, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if c == 0:
                axis.set_ylabel(label, fontsize=8)
    figure.suptitle("held-out canvases: colour = digit class, black = background", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path
