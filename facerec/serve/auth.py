"""Who is calling: the API key of each request, checked before its body is read.

Requests under ``/v1/`` (except ``/v1/health``) need a key in ``X-API-Key`` or
``Authorization: Bearer``: none, a malformed, unknown or revoked one is answered 401 before
anything else happens; then the key's rate and the body size are checked. A route that needs
a higher role than the key's answers 403 (see :func:`require`). Keys are never logged.

Both refusals are audited (action ``denied``): the key id presented, if the key is well formed (never
its secret), the person the path names, if any, and ``<status> <method> <route template>: <why>``. A 401
costs its sender nothing, so those are bounded per client address and minute: a few in full (the name cut
short and escaped, the address added), the rest counted (see :class:`~facerec.serve.audit.RefusalTally`).
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Annotated, Any, Callable

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from starlette.types import ASGIApp, Receive, Scope, Send

from enrollment import AccessStore, ApiKeyInfo, role_allows
from facerec.serve.limits import BodyLimit, RateLimiter
from facerec.serve.logs import UNMATCHED, RouteTemplates

if TYPE_CHECKING:
    from facerec.serve.audit import AuditLog

__all__ = ["AccessMiddleware", "require", "KEY_HEADER", "OPEN_PATHS", "ReadKey", "EnrollKey", "AdminKey"]

KEY_HEADER = "X-API-Key"
OPEN_PATHS = frozenset({"/v1/health"})
#: The key id of a well-formed key (``frk_<key id>_<secret>``): not a secret, so it may be audited.
_KEY_ID = re.compile(r"frk_([0-9a-f]{12})_")

#: Declares the key header in the OpenAPI document (checking is done by the middleware).
api_key_header = APIKeyHeader(name=KEY_HEADER, auto_error=False, description="An API key: frk_<id>_<secret>")


class AccessMiddleware:
    """401 without a valid key, 429 over the key's rate, 413 over the size limit (pure ASGI)."""

    def __init__(self, app: ASGIApp, *, access: AccessStore, limiter: RateLimiter, max_body: int,
                 audit: AuditLog | None = None, templates: RouteTemplates | None = None) -> None:
        self.app, self.access, self.limiter, self.max_body = app, access, limiter, max_body
        self.audit, self.templates = audit, templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1/") or path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        key = _presented_key(headers)
        info = self.access.authenticate(key) if key else None
        if info is None:
            reason = "an API key is required (X-API-Key header)" if not key else "invalid or revoked API key"
            self._audit_refusal(scope, key, "no key" if not key else "invalid or revoked key")
            await _answer(send, 401, "Unauthorized", reason, {"www-authenticate": "Bearer"})
            return
        wait = self.limiter.wait_time(info.key_id)
        if wait > 0:
            await _answer(send, 429, "RateLimited", "too many requests for this key",
                          {"retry-after": str(max(1, math.ceil(wait)))})
            return
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            await _answer(send, 413, "TooLarge", f"the request is larger than the limit of {self.max_body:,} bytes",
                          {"connection": "close"})
            return
        scope.setdefault("state", {})["key"] = info
        await self.app(scope, BodyLimit(receive, self.max_body), send)

    def _audit_refusal(self, scope: Scope, key: str, why: str) -> None:
        if self.audit is None:
            return
        found = self.templates.match(scope.get("path", "")) if self.templates else None
        template, params = found or (UNMATCHED, {})
        key_id = _KEY_ID.match(key.strip())
        client = scope.get("client") or ("unknown address", 0)
        self.audit.refused(str(client[0]), key_id.group(1) if key_id else "-", params.get("name"),
                           f"401 {scope.get('method', '')} {template}: {why}")


def _presented_key(headers: dict[str, str]) -> str:
    if headers.get("x-api-key"):
        return headers["x-api-key"]
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def _answer(send: Send, status: int, error: str, detail: str, extra: dict[str, str]) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Forbidden(Exception):
    """The key's role does not allow the route (HTTP 403)."""


def require(role: str) -> Callable[..., Any]:
    """A dependency: the caller's key, which must have at least ``role`` (else 403)."""

    def check(request: Request, _header: str | None = Security(api_key_header)) -> ApiKeyInfo:  # noqa: B008
        info: ApiKeyInfo | None = getattr(request.state, "key", None)
        if info is None:  # pragma: no cover - the middleware answers 401 first
            raise Forbidden("no API key")
        if not role_allows(info.role, role):
            service = getattr(request.app.state, "service", None)
            if service is not None:
                template = getattr(request.scope.get("route"), "path", UNMATCHED)
                service.audit.record(info.key_id, "denied", request.path_params.get("name"),
                                     f"403 {request.method} {template}: needs the {role} role")
            raise Forbidden(f"this needs a key with the {role!r} role (this key: {info.role!r})")
        return info

    return check


#: Route parameters: the caller's key, of at least this role.
ReadKey = Annotated[ApiKeyInfo, Depends(require("read"))]
EnrollKey = Annotated[ApiKeyInfo, Depends(require("enroll"))]
AdminKey = Annotated[ApiKeyInfo, Depends(require("admin"))]
