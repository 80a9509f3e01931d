"""Checks of the arguments the library takes from callers, shared by the library and the CLI.

>>> check_threshold(0.4)
0.4
>>> try:
...     check_threshold(float("nan"))
... except FaceRecError as error:
...     print(error)
threshold must be a number in [-1, 1] (a cosine similarity), got nan
>>> path_text(b"caf\\xe9.jpg".decode("utf-8", "surrogateescape"))
'caf\\\\xe9.jpg'
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

from facerec.errors import FaceRecError

__all__ = ["MAX_TOP_K", "check_threshold", "check_top_k", "path_text"]

#: The most candidates one search may ask for per face (each costs memory for every probe face).
MAX_TOP_K = 1000


def check_threshold(value: object, what: str = "threshold") -> float:
    """A similarity threshold as a float: a real number in [-1, 1] (cosine similarities lie there); NaN,
    infinities and anything else raise :class:`FaceRecError` (NaN compares false with every score, so it
    would silently answer "no match" to everything)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise FaceRecError(f"{what} must be a number in [-1, 1] (a cosine similarity), got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and -1.0 <= number <= 1.0):
        raise FaceRecError(f"{what} must be a number in [-1, 1] (a cosine similarity), got {number!r}")
    return number


def check_top_k(value: object) -> int:
    """How many candidates to return per face: an integer from 1 to :data:`MAX_TOP_K`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= int(value) <= MAX_TOP_K:
        raise FaceRecError(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {value!r}")
    return int(value)


def path_text(path: str | Path) -> str:
    """``path`` as valid text for files, databases and JSON: the bytes of a file name that is not UTF-8
    (which Python holds as lone surrogates) written as ``\\xNN`` escapes; any other name as it is."""
    text = str(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that no file name decoding made
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")
