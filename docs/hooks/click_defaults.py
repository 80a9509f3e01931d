"""MkDocs hook: the generated CLI reference shows the default a command gets, not click's ``Sentinel.UNSET``.

Since click 8.2 an option declared without a default keeps the sentinel ``UNSET`` as its ``default`` and
resolves it when the command runs (``False`` for a flag such as ``--no-flip``, ``None`` otherwise).
mkdocs-click 0.9 prints ``option.default`` as it finds it, so 150-odd rows read ``Sentinel.UNSET``. This hook
hands mkdocs-click a copy of each such option with the value the command receives; options with a default
of their own are untouched. Where mkdocs-click no longer has the function, nothing is patched
(tests/test_docs.py checks the built page for the sentinel either way).
"""

from __future__ import annotations

import copy
from typing import Any

import click

_PATCHED = "_facerec_unset_defaults"


def _resolved(option: click.Option) -> click.Option:
    """``option``, or a copy whose default is what the command receives where it was left UNSET."""
    unset = getattr(click.core, "UNSET", None)
    if unset is None or option.default is not unset:
        return option
    shown = copy.copy(option)
    shown.default = False if option.is_bool_flag else None
    return shown


def on_config(config: Any) -> Any:  # noqa: ANN401 - MkDocs' config object
    """Wrap mkdocs-click's option row once per process."""
    try:
        from mkdocs_click import _docs
    except ImportError:  # the site does not use mkdocs-click: nothing to fix
        return config
    row = getattr(_docs, "_format_table_option_row", None)
    if row is not None and not getattr(row, _PATCHED, False):
        def patched(option: click.Option) -> str:
            return row(_resolved(option))

        setattr(patched, _PATCHED, True)
        _docs._format_table_option_row = patched
    return config
