"""The optional parts of facerec (the extras of ``pyproject.toml``) and the one line that names a missing one.

The core install (``pip install facerec``) runs the ONNX pipeline: verify, enroll, identify, list, embed,
compare, the service's recognizer and ``--robust``. PyTorch and the figures are extras, so a feature that needs
one says which in one line, ``... needs the torch extra: pip install 'facerec[torch]'``, rather than a traceback.

>>> extra_for("torch.nn"), extra_for("matplotlib.figure"), extra_for("numpy")
('torch', 'plots', None)
>>> str(missing_extra("--backend torch", "torch"))
"--backend torch needs the torch extra: pip install 'facerec[torch]'"
"""

from __future__ import annotations

import importlib
from types import ModuleType

from facerec.errors import MissingExtraError

__all__ = ["COMMAND_EXTRAS", "EXTRAS", "extra_for", "import_extra", "missing_extra"]

#: The extra that installs each optional top-level module.
EXTRAS: dict[str, str] = {
    "torch": "torch", "torchvision": "torch", "facenet_pytorch": "torch",
    "matplotlib": "plots",
    "sklearn": "zoo", "skimage": "generative", "bm3d": "dense",
    "fastapi": "serve", "uvicorn": "serve", "fastapi_offline": "serve", "multipart": "serve",
    "av": "video", "trackers": "video", "supervision": "video",
    "pymilvus": "milvus", "milvus_lite": "milvus",
    "ray": "ray",
    "psycopg2": "postgres",
}

#: Commands that have an extra of their own, which brings PyTorch and the figures with it.
COMMAND_EXTRAS: dict[str, str] = {"train": "train", "zoo": "zoo", "robustness": "robustness"}


def extra_for(module: str | None) -> str | None:
    """The extra that installs ``module`` (``"torch.nn"`` -> ``"torch"``), or None for one facerec does not know."""
    return EXTRAS.get((module or "").split(".")[0])


def missing_extra(feature: str, extra: str, module: str | None = None) -> MissingExtraError:
    """The error saying that ``feature`` needs ``extra`` (for ``module``, when named), with the command that
    installs it."""
    what = f"{module}, from the {extra} extra" if module else f"the {extra} extra"
    return MissingExtraError(f"{feature} needs {what}: pip install 'facerec[{extra}]'")


def import_extra(module: str, feature: str) -> ModuleType:
    """``module``, imported; a :class:`MissingExtraError` naming its extra when it (or a package of another extra
    it needs) is not installed.

    >>> import_extra("numpy", "arrays").__name__
    'numpy'
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        extra = extra_for(exc.name)
        if extra is None:
            raise
        raise missing_extra(feature, extra, (exc.name or "").split(".")[0]) from None
