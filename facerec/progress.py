"""Progress bars that keep logs clean: tqdm on a terminal, nothing when stderr is a file or a pipe.

A bar redrawn with carriage returns turns a log into one unreadable line per redraw, so a bar is shown
only when stderr is a terminal; ``FACEREC_PROGRESS=1`` shows it anyway and ``FACEREC_PROGRESS=0`` never.
Commands print their own summary lines either way. Use it as tqdm itself:

>>> from facerec.progress import tqdm
>>> sum(tqdm(range(3), disable=True))
3
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tqdm import tqdm as _tqdm

__all__ = ["tqdm", "bars_shown"]


def bars_shown() -> bool:
    """Whether progress bars are drawn: FACEREC_PROGRESS when set, else whether stderr is a terminal."""
    forced = os.environ.get("FACEREC_PROGRESS", "").strip().lower()
    if forced in ("1", "true", "yes", "on"):
        return True
    if forced in ("0", "false", "no", "off"):
        return False
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class tqdm(_tqdm):  # noqa: N801 - a drop-in for tqdm.tqdm
    """tqdm, disabled unless :func:`bars_shown`."""

    def __init__(self, *args: Any, disable: bool | None = False, **kwargs: Any) -> None:
        super().__init__(*args, disable=bool(disable) or not bars_shown(), **kwargs)
