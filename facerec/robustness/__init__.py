"""Adversarial robustness of verification: attacks, input defences and the report.

>>> from facerec.robustness import pgd, pipeline_embedder, get_defence  # doctest: +SKIP
"""

from __future__ import annotations

from facerec.robustness.attacks import EmbedFn, Setting, fgsm, pgd, pipeline_embedder, similarity
from facerec.robustness.defence import InputDefence, JpegDefence, ResizePadDefence, get_defence
from facerec.robustness.errors import RobustnessError

__all__ = [
    "EmbedFn", "Setting", "fgsm", "pgd", "pipeline_embedder", "similarity",
    "InputDefence", "JpegDefence", "ResizePadDefence", "get_defence", "RobustnessError",
]
