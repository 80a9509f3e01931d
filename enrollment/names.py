"""The one rule for identity names, used by the store, the library, the CLI and the web API.

A name is kept as Unicode NFC (so that a decomposed "José" and a composed one are the same person), without
leading or trailing whitespace, and holds 1 to 255 characters. Refused, because they hide or fake text on a
terminal, in a log or on the web page, or make a second identity that looks exactly like another:

- control characters (Cc: ANSI escape sequences, tabs, newlines, NUL) and the line and paragraph
  separators (Zl, Zp);
- format characters (Cf: zero-width spaces and joiners, right-to-left overrides, soft hyphens);
- lone surrogates (Cs: a file name that is not UTF-8), private-use (Co) and unassigned (Cn) code points;
- slashes and backslashes (path separators in URLs and folders).

Anything else, quotes and apostrophes included, is kept as given (names are stored as bound parameters,
never spliced into SQL).

>>> check_name("  Jose\\u0301 ")
'José'
>>> check_name("Person\\u200bOne")
Traceback (most recent call last):
...
enrollment.errors.GalleryError: a name may not hold format characters (U+200B ZERO WIDTH SPACE): 'Person\\u200bOne'
"""

from __future__ import annotations

import unicodedata

from enrollment.errors import GalleryError, UnknownIdentityError

__all__ = ["MAX_NAME", "check_name", "lookup_name"]

#: The most characters a name may hold (after normalisation).
MAX_NAME = 255

_REFUSED = {
    "Cc": "control characters", "Zl": "line separators", "Zp": "paragraph separators",
    "Cf": "format characters", "Cs": "lone surrogates (bytes that are not UTF-8)",
    "Co": "private-use characters", "Cn": "unassigned characters",
}
_SLASHES = {"/": "slashes", "\\": "backslashes"}


def check_name(name: object) -> str:
    """``name`` as it is stored: NFC, stripped; :class:`GalleryError` when it breaks the rule (see the module)."""
    if not isinstance(name, str):
        raise GalleryError(f"a name must be text, got {type(name).__name__}")
    cleaned = _normal(name)
    for char in cleaned:
        category = unicodedata.category(char)
        what = _REFUSED.get(category) or _SLASHES.get(char)
        if what:
            raise GalleryError(f"a name may not hold {what} ({_describe(char)}): {_shown(name)}")
    if not 1 <= len(cleaned) <= MAX_NAME:
        raise GalleryError(f"names must be 1 to {MAX_NAME} characters, got {len(cleaned)}: {_shown(name)}")
    return cleaned


def lookup_name(name: object) -> str:
    """``name`` normalised as :func:`check_name` does, for finding an enrolled identity (remove, rename).

    It refuses nothing that could be enrolled; text that cannot even be stored (not a string, lone
    surrogates) raises :class:`UnknownIdentityError`, as no identity can have that name."""
    if not isinstance(name, str):
        raise UnknownIdentityError(f"no identity named {name!r} is enrolled (a name is text)")
    cleaned = _normal(name)
    if any(unicodedata.category(char) == "Cs" for char in cleaned):
        raise UnknownIdentityError(f"no identity named {_shown(name)} is enrolled (it holds undecodable characters)")
    return cleaned


def _normal(name: str) -> str:
    return unicodedata.normalize("NFC", name).strip()


def _describe(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, '')}".rstrip()


def _shown(name: str, limit: int = 60) -> str:
    """The name for a message: quoted, every unprintable character escaped (so one line, no escape sequence
    reaches the terminal), and cut after ``limit`` characters."""
    return repr(name[:limit]) + (f"... ({len(name)} characters)" if len(name) > limit else "")
