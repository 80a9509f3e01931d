"""Weights entries and how a weights file is found: explicit path, ``FACEREC_WEIGHTS_DIR``,
the user cache, then a checked download.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from platformdirs import user_cache_dir

from facerec.alignment import Alignment
from facerec.errors import WeightsHashError, WeightsNotFoundError
from facerec.fileio import atomic_path, sha256_file

__all__ = ["WeightsFile", "Weights", "weights_cache_dir", "resolve_weights", "sha256_file"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True, kw_only=True)
class WeightsFile:
    """A published weights file of an embedder or a detector: where to get it and how to check it.

    ``sha256`` is checked on every file found by name (``FACEREC_WEIGHTS_DIR``, the cache, a
    download); ``None`` means no published hash is known, which ``facerec models`` says.
    """

    model: str
    tag: str
    filename: str
    url: str | None
    sha256: str | None
    license: str = ""
    note: str = ""
    #: The folder under ``FACEREC_WEIGHTS_DIR`` it is also looked for in (besides the model's own name).
    folder: str | None = None

    @property
    def key(self) -> str:
        """Identifies the weights: galleries, caches and exported ONNX files are bound to it."""
        return f"{self.model}:{self.tag}"


@dataclass(frozen=True, kw_only=True)
class Weights(WeightsFile):
    """An embedder's weights: the file, and how to feed the network and read its output.

    ``threshold`` is the cosine-similarity threshold for 1:1 verification (best accuracy)
    and ``identify_threshold`` the stricter open-set threshold for 1:N identification
    (false accept rate 1e-3 per comparison); both calibrated on data, see each entry.
    ``impostor_tail`` lists ``(far, threshold)`` points of the impostor score distribution
    (``scripts/calibrate_open_set.py``), from which a gallery's threshold grows with its size.
    """

    alignment: Alignment
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    embedding_size: int
    threshold: float
    identify_threshold: float
    impostor_tail: tuple[tuple[float, float], ...] = ()
    #: The channel order the network was trained on (``"rgb"`` or ``"bgr"``).
    colour: str = "rgb"
    #: The published ONNX export of these weights (facerec's recipe: RGB pixels in [0, 1] in, the normalisation
    #: inside the graph, the raw embedding out), found like the weights file; None where none is published.
    onnx: WeightsFile | None = None

    def open_set_threshold(self, identities: int, fpir: float = 0.01) -> float:
        """The identification threshold for a gallery of ``identities`` people.

        A stranger is wrongly recognised when any of the N enrolled people scores above the
        threshold, so FPIR is about N x FAR: the threshold sits at FAR = ``fpir`` / N on the
        impostor tail (log-interpolated, clipped to the tail's ends), never below
        ``identify_threshold``.

        >>> w = Weights(model="m", tag="t", filename="f", url=None, sha256=None, alignment=Alignment(112),
        ...             mean=(0, 0, 0), std=(1, 1, 1), embedding_size=8, threshold=0.2, identify_threshold=0.3,
        ...             impostor_tail=((1e-3, 0.3), (1e-5, 0.4)))
        >>> round(w.open_set_threshold(100), 3)  # FAR 1e-4
        0.35
        """
        if not self.impostor_tail or identities <= 0:
            return self.identify_threshold
        far = fpir / identities
        depth = [-math.log10(f) for f, _ in self.impostor_tail]
        threshold = float(np.interp(-math.log10(far), depth, [t for _, t in self.impostor_tail]))
        return max(self.identify_threshold, threshold)


def weights_cache_dir() -> Path:
    """Where downloaded weights are kept (``~/.cache/facerec/weights`` on Linux)."""
    return Path(user_cache_dir("facerec")) / "weights"


def resolve_weights(entry: WeightsFile, path: str | Path | None = None, *, download: bool | None = None) -> Path:
    """Find the weights file for ``entry`` and return its path.

    Order: ``path``; ``$FACEREC_WEIGHTS_DIR/<file>`` or ``$FACEREC_WEIGHTS_DIR/<model>/<file>``;
    the user cache; a download (hash-checked, written atomically) unless
    ``FACEREC_OFFLINE=1`` or ``download=False``. A file found by name must have the entry's
    sha256 (when one is recorded), or :class:`WeightsHashError` is raised: a different file
    under the published name is never used under the published key. A file given by ``path``
    is the caller's own; its key is derived from its content (see ``get_model``).
    """
    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise WeightsNotFoundError(f"weights file {explicit} does not exist")
        return explicit
    candidates = []
    env_dir = os.environ.get("FACEREC_WEIGHTS_DIR")
    if env_dir:
        base = Path(os.path.abspath(Path(env_dir).expanduser()))  # a relative folder is taken from here, once
        candidates += [base / entry.filename, base / entry.model / entry.filename]
        if entry.folder:
            candidates.append(base / entry.folder / entry.filename)
    cached = weights_cache_dir() / entry.filename
    candidates.append(cached)
    for candidate in candidates:
        if candidate.is_file():
            return _checked(entry, candidate)
    if download is None:
        download = os.environ.get("FACEREC_OFFLINE", "") not in ("1", "true", "yes")
    if download and entry.url:
        import urllib.error  # here, not at the top: most commands find their weights and never download

        try:
            return _download(entry, cached)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise WeightsNotFoundError(_missing_message(entry, candidates, f"download failed: {exc}")) from None
    raise WeightsNotFoundError(_missing_message(entry, candidates, "downloads are disabled"))


def _checked(entry: WeightsFile, path: Path) -> Path:
    if entry.sha256 and sha256_file(path) != entry.sha256:
        raise WeightsHashError(
            f"{path} is not the published {entry.key} weights file (its sha256 differs from {entry.sha256[:12]}...); "
            "remove or replace it, or pass it as your own weights file to use it under its own key",
            hint="--weights FILE"
        )
    return path


def _missing_message(entry: WeightsFile, searched: list[Path], why: str) -> str:
    where = f"download it from {entry.url}" if entry.url else "no public download is known"
    unset = "" if os.environ.get("FACEREC_WEIGHTS_DIR") else " (FACEREC_WEIGHTS_DIR is not set)"
    return (
        f"weights for {entry.key} not found ({why}). Looked for {', '.join(map(str, searched))}{unset}. "
        f"Put '{entry.filename}' in {searched[-1].parent} or in a folder named by FACEREC_WEIGHTS_DIR, "
        f"or pass its path as the weights file (--weights); {where}"
    )


def _download(entry: WeightsFile, target: Path) -> Path:
    import urllib.request

    if not entry.url:
        raise WeightsNotFoundError(f"no download address is known for {entry.key}")
    with atomic_path(target) as tmp:
        with tmp.open("wb") as out, urllib.request.urlopen(entry.url, timeout=30) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
        if entry.sha256 and sha256_file(tmp) != entry.sha256:
            raise WeightsHashError(f"{entry.url} does not have the expected sha256 {entry.sha256}")
    return target
