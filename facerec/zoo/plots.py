"""Figures of the generative wing: style-transfer costs over the steps."""

from __future__ import annotations

from pathlib import Path

from facerec.fileio import atomic_path
from facerec.zoo.style_transfer import StyleResult

__all__ = ["plot_style_costs"]


def plot_style_costs(result: StyleResult, path: str | Path, title: str) -> Path:
    """J, alpha-free J_content and J_style per step, on a log scale, written to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [s.step for s in result.history]
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for axis, values, label in zip(axes, ([s.total for s in result.history], [s.content for s in result.history],
                                          [s.style for s in result.history]),
                                   ("J = alpha J_content + beta J_style", "J_content", "J_style")):
        axis.plot(steps, values)
        if min(values) > 0:
            axis.set_yscale("log")
        axis.set(xlabel="step", title=label)
        axis.grid(alpha=0.3)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=90, format="png")
    plt.close(figure)
    return Path(path)
