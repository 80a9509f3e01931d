"""The robustness report: a text table, a curve of accuracy against eps, example pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from facerec.robustness.experiment import Example, ResultRow

__all__ = ["format_table", "format_summary", "save_curves", "save_examples"]

_HEADER = ("pipeline", "attacker", "attack", "eps", "setting", "pairs", "accuracy", "attacked acc",
           "success", "TAR/FAR@thr1e-3", "mean Linf (/255)", "mean L2 ([0,1])")


def format_table(rows: Sequence[ResultRow]) -> str:
    """A Markdown table, one line per row; eps and L-inf in pixel levels (1/255), L2 on the [0, 1] scale."""
    lines = ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    for r in rows:
        rate = f"{'TAR' if r.setting == 'dodging' else 'FAR'} {r.rate_at_far_1e3:.3f}"
        cells = (r.pipeline, r.attacker, r.attack, f"{r.eps:g}", r.setting, str(r.pairs), f"{r.accuracy:.2%}",
                 f"{r.attacked_accuracy:.2%}", f"{r.success_rate:.2%}", rate, f"{r.linf:.2f}", f"{r.l2:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_summary(rows: Sequence[ResultRow]) -> str:
    """The compact table: accuracy on the attacked pairs (genuine pairs for dodging, impostor
    pairs for impersonation) per eps, one column per attack and setting, one block per pipeline
    and attacker."""
    columns = sorted({(r.attack, r.setting) for r in rows if r.attack != "clean"},
                     key=lambda c: (not c[0].startswith("fgsm"), c[1]))
    header = ["pipeline / attacker", "eps"] + [f"{attack} {setting}" for attack, setting in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    blocks = list(dict.fromkeys((r.pipeline, r.attacker) for r in rows if r.attack != "clean"))
    shown: set[str] = set()
    for pipeline, attacker in blocks:
        if pipeline not in shown:
            shown.add(pipeline)
            clean = {r.setting: r.attacked_accuracy for r in rows
                     if r.pipeline == pipeline and r.attack == "clean"}
            cells = [f"{pipeline} / clean", "0"] + [f"{clean.get(setting, float('nan')):.1%}" for _, setting in columns]
            lines.append("| " + " | ".join(cells) + " |")
        for eps in sorted({r.eps for r in rows if r.attack != "clean"}):
            found = {(r.attack, r.setting): r.attacked_accuracy for r in rows
                     if (r.pipeline, r.attacker, r.eps) == (pipeline, attacker, eps)}
            cells = [f"{pipeline} / {attacker}", f"{eps:g}"] + [f"{found[c]:.1%}" if c in found else "-"
                                                                for c in columns]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_curves(rows: Sequence[ResultRow], path: Path) -> None:
    """Accuracy on the attacked pairs against eps: one panel per setting, one line per attack."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=120, sharey=True)
    for ax, setting in zip(axes, ("dodging", "impersonation")):
        chosen = [r for r in rows if r.setting == setting]
        clean = {r.pipeline: r.attacked_accuracy for r in chosen if r.attack == "clean"}
        lines = sorted({(r.pipeline, r.attacker, r.attack) for r in chosen if r.attack != "clean"})
        for pipeline, attacker, attack in lines:
            points = sorted((r.eps, r.attacked_accuracy) for r in chosen
                            if (r.pipeline, r.attacker, r.attack) == (pipeline, attacker, attack))
            eps, acc = zip(*([(0.0, clean.get(pipeline, np.nan))] + points))
            style = "-" if attack.startswith("pgd") else "--"
            ax.plot(eps, acc, style, marker="o", label=f"{pipeline} / {attacker} / {attack}")
        ax.set_title(f"{setting} ({chosen[0].pairs if chosen else 0} attacked pairs)")
        ax.set_xlabel("eps (pixel levels, 1/255)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("accuracy on attacked pairs")
    axes[0].set_ylim(-0.02, 1.02)
    axes[1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def save_examples(examples: Sequence[Example], path: Path) -> None:
    """Rows of clean | perturbation (magnified to fill the grey range) | adversarial."""
    if not examples:
        return
    plt = _pyplot()
    fig, axes = plt.subplots(len(examples), 3, figsize=(7.5, 2.6 * len(examples)), dpi=120, squeeze=False)
    for row, example in zip(axes, examples):
        delta = example.adversarial - example.clean
        scale = max(float(np.abs(delta).max()), 1e-12)
        panels = (example.clean, 0.5 + 0.5 * delta / scale, example.adversarial)
        titles = (f"clean, sim {example.clean_score:.2f}",
                  f"perturbation x{0.5 / scale:.0f}",
                  f"{example.attack} eps {example.eps:g}/255, sim {example.adversarial_score:.2f}")
        for ax, image, title in zip(row, panels, titles):
            ax.imshow(np.clip(image.transpose(1, 2, 0), 0, 1))
            ax.set_title(title, fontsize=8)
            ax.axis("off")
        row[0].set_ylabel(example.setting)
        row[0].text(-8, 56, example.setting, rotation=90, va="center", ha="right", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
