"""The ``facerec`` command line. One function per command; errors become one line on stderr.

Each module here adds its commands to ``main``: ``core`` (models, verify, eval, gallery) and, when
present, ``embed`` (with ``compare``), ``train``, ``zoo``, ``robustness``, ``serve`` and ``keys``.
"""

from __future__ import annotations

import importlib

from facerec.cli.core import main

__all__ = ["main"]

for _name in ("embed", "train", "zoo", "robustness", "serve", "keys"):
    try:
        _module = importlib.import_module(f"facerec.cli.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"facerec.cli.{_name}":
            raise
        continue
    main.add_command(_module.COMMAND)
    for _command in getattr(_module, "EXTRA_COMMANDS", []):
        main.add_command(_command)
