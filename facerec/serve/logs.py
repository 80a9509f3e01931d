"""Server logs without personal data: the access log names the route, never the person in the path.

uvicorn logs each request as ``"DELETE /v1/people/Ada%20Lovelace HTTP/1.1" 200``; the filter that
:func:`redact_access_log` installs on the ``uvicorn.access`` logger rewrites the path to its route
template (``/v1/people/{name}``), a path that matches no route to :data:`UNMATCHED`, and drops the
query string's text (``?…``). The audit log is where who did what to whom is kept.

>>> redact_access_log(RouteTemplates(app_templates(app)))  # doctest: +SKIP  (create_app does it)
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, Callable, Iterable
from urllib.parse import unquote

from starlette.routing import Mount, compile_path

__all__ = ["RouteTemplates", "RouteTemplateFilter", "app_templates", "redact_access_log", "UNMATCHED"]

log = logging.getLogger("facerec.serve")

#: Stands for a path that matches no route (it may hold anything, a name included).
UNMATCHED = "/<no route>"


class RouteTemplates:
    """Which route template a request path is, and its path parameters.

    ``source`` gives the templates (``/v1/people/{name}``) when first needed: the app's routes are only
    all there once it is built. Templates without parameters are tried first.

    >>> RouteTemplates(lambda: ["/v1/people/{name}", "/v1/people"]).match("/v1/people/Ada Lovelace")
    ('/v1/people/{name}', {'name': 'Ada Lovelace'})
    """

    def __init__(self, source: Callable[[], Iterable[str]]) -> None:
        self._source = source
        self._compiled: list[tuple[str, re.Pattern[str]]] | None = None
        self._lock = threading.Lock()

    def match(self, path: str) -> tuple[str, dict[str, str]] | None:
        """The template ``path`` (decoded, without its query) matches, and its parameters; None if none does."""
        for template, regex in self._templates():
            found = regex.match(path)
            if found:
                return template, {k: v for k, v in found.groupdict().items() if isinstance(v, str)}
        return None

    def _templates(self) -> list[tuple[str, re.Pattern[str]]]:
        with self._lock:
            if self._compiled is None:
                try:
                    source = set(self._source())
                except Exception:  # noqa: BLE001 - no templates: every path is UNMATCHED, which is safe
                    log.warning("the route templates could not be listed; paths are logged as %s", UNMATCHED)
                    source = set()
                templates = sorted(source, key=lambda t: ("{" in t, t))
                self._compiled = [(t, compile_path(t)[0]) for t in templates]
            return self._compiled


def app_templates(app: Any) -> Callable[[], list[str]]:
    """The route templates of a FastAPI ``app``: its OpenAPI paths, and the routes outside the schema (the
    page, the docs, ``/static/{path:path}``)."""

    def templates() -> list[str]:
        found = list(app.openapi().get("paths", {}))
        for route in app.routes:
            path = getattr(route, "path", None)
            if isinstance(path, str) and path.startswith("/"):
                found.append(path + "/{path:path}" if isinstance(route, Mount) else path)
        return found

    return templates


class RouteTemplateFilter(logging.Filter):
    """Rewrites the path of uvicorn's access lines to its route template (see the module's docstring)."""

    def __init__(self, templates: RouteTemplates) -> None:
        super().__init__()
        self.templates = templates

    def filter(self, record: logging.LogRecord) -> bool:
        args: Any = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):  # uvicorn's access line
            try:
                path = self.redact(args[2])
            except Exception:  # noqa: BLE001 - a filter that raises would fail the request it logs
                path = UNMATCHED
            record.args = (args[0], args[1], path, *args[3:])
        return True

    def redact(self, path_and_query: str) -> str:
        path, _, query = path_and_query.partition("?")
        found = self.templates.match(unquote(path))
        return (found[0] if found else UNMATCHED) + ("?…" if query else "")


def redact_access_log(templates: RouteTemplates) -> RouteTemplateFilter:
    """Put a :class:`RouteTemplateFilter` on ``uvicorn.access`` in place of any earlier one."""
    logger = logging.getLogger("uvicorn.access")
    for old in [f for f in logger.filters if isinstance(f, RouteTemplateFilter)]:
        logger.removeFilter(old)
    new = RouteTemplateFilter(templates)
    logger.addFilter(new)
    return new
