"""A griffe extension for the API pages, loaded by mkdocs.yml: the docstrings' Sphinx roles
(``:class:`~facerec.gallery.Gallery```) shown as code (``Gallery``), as Sphinx would show them, instead of as raw
``:class:`` text; and their ``>>>`` examples as code blocks, not as Markdown quotes."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")


def plain(match: re.Match[str]) -> str:
    """``~a.b.C`` as ``C``, ``a.b.C`` as ``a.b.C``; ``text <target>`` as ``text``."""
    tilde, target = match.groups()
    explicit = re.match(r"(.*?)\s*<[^>]+>$", target)
    if explicit:
        return f"`{explicit.group(1)}`"
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def fenced_examples(text: str) -> str:
    """Each run of lines that starts with ``>>>`` and ends at a blank line, fenced as a ``pycon`` block."""
    out: list[str] = []
    in_example = False
    for line in text.splitlines():
        starts = line.lstrip().startswith(">>>")
        if starts and not in_example:
            out.append("```pycon")
            in_example = True
        elif in_example and not line.strip():
            out.append("```")
            in_example = False
        out.append(line)
    if in_example:
        out.append("```")
    return "\n".join(out)


class SphinxRoles(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fenced_examples(ROLE.sub(plain, obj.docstring.value))
