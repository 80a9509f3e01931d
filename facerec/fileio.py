"""Files: atomic writes, and paths a user gives, looked at without a traceback and shown without harm.

Atomic writes: write beside the target, then ``os.replace`` it into place. A reader never sees a half-written
file, and a crash leaves the old file (or none), never a torn one. (``index/`` keeps its own copy of the two
lines, as the layers below ``facerec`` import nothing from it.)

A path a user gives may be one that no file can have (a name over 255 bytes, a NUL character), or hold
characters a terminal acts on (an escape sequence, a right-to-left override): :func:`checked` turns what the
system says about it into a :class:`~facerec.errors.FaceRecError` of one line, and :func:`shown_path` is the
path as messages print it.

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
>>> with atomic_path(target) as tmp:
...     _ = tmp.write_text("done")
>>> target.read_text()
'done'
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from facerec.checks import path_text
from facerec.errors import FaceRecError

__all__ = ["atomic_path", "checked", "os_reason", "sha256_file", "shown_path"]


@contextmanager
def atomic_path(target: str | Path, *, suffix: str | None = None) -> Iterator[Path]:
    """A temporary path in ``target``'s folder (with ``target``'s suffix, or ``suffix``), moved onto
    ``target`` when the block succeeds and removed when it fails. The folder is created if needed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                    suffix=target.suffix if suffix is None else suffix)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shown_path(path: str | Path) -> str:
    r"""``path`` as a message prints it: one line, nothing a terminal would act on. Printable text (accents,
    any script) stays as it is; control and format characters (an escape sequence, a newline, a
    right-to-left override) are written as Python escapes, and the bytes of a name that is not UTF-8 as
    ``\xNN``.

    >>> print(shown_path("evil\x1b[31m\u202e.jpg"), shown_path("été.jpg"))
    evil\x1b[31m\u202e.jpg été.jpg
    """
    text = path_text(path)
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)


#: What the system said about a path, in a few words, by errno.
_REASONS = {
    errno.ENAMETOOLONG: "the file name is too long (a name may have at most 255 bytes, a path 4096)",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ELOOP: "a symbolic link loop",
    errno.EISDIR: "a folder, not a file",
    errno.EIO: "input/output error",
}


def os_reason(exc: OSError | ValueError) -> str:
    """Why a path could not be used, in a few words (no errno number, no repeated path).

    >>> os_reason(OSError(errno.ENAMETOOLONG, "File name too long"))
    'the file name is too long (a name may have at most 255 bytes, a path 4096)'
    """
    if isinstance(exc, ValueError):  # os.stat and open refuse a path with a NUL character this way
        return "not a valid file name (it holds a NUL character)" if "null" in str(exc) else str(exc)
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    return (exc.strerror or str(exc)).lower()


@contextmanager
def checked(path: str | Path, what: str = "file",
            error: Callable[[str, str], FaceRecError] | None = None) -> Iterator[Path]:
    """``path`` as a :class:`~pathlib.Path`, to look at or read in the block: an :class:`OSError` raised there,
    or the :class:`ValueError` a NUL character gives, becomes one line naming the path and why,
    ``error(shown path, reason)`` (default: a :class:`~facerec.errors.FaceRecError`, "cannot read {what}
    PATH: reason").

    >>> try:
    ...     with checked("x" * 300, "folder") as folder:
    ...         folder.is_dir()
    ... except FaceRecError as error:
    ...     print(str(error).startswith("cannot read folder xxx"), "too long" in str(error))
    True True
    """
    try:
        yield Path(path)
    except OSError as exc:
        raise _error(path, what, os_reason(exc), error) from None
    except ValueError as exc:
        if "null" not in str(exc):  # not about the path: someone else's error
            raise
        raise _error(path, what, os_reason(exc), error) from None


def _error(path: str | Path, what: str, reason: str, error: Callable[[str, str], FaceRecError] | None
           ) -> FaceRecError:
    if error is not None:
        return error(shown_path(path), reason)
    return FaceRecError(f"cannot read {what} {shown_path(path)}: {reason}")
