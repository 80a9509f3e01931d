"""The FastAPI application: the versioned JSON API under ``/v1``, the web page at ``/``, docs at ``/docs``.

>>> app = create_app(ServeSettings(db="/tmp/gallery.db"))  # doctest: +SKIP
>>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, AsyncIterator

import fastapi_offline  # Swagger UI's files; missing, `facerec serve` names the extra to install
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enrollment import AccessStore
from facerec import __version__
from facerec.gallery import Gallery, db_url, default_db_url
from facerec.serve.audit import AuditLog
from facerec.serve.auth import AccessMiddleware
from facerec.serve.errors import install_error_handlers
from facerec.serve.limits import RateLimiter, WorkQueue
from facerec.serve.logs import RouteTemplates, app_templates, redact_access_log
from facerec.serve.service import Service
from facerec.serve.settings import ServeSettings

__all__ = ["create_app", "app_from_env", "open_gallery", "add_docs"]

STATIC = Path(__file__).parent / "static"
#: Where the API docs' script and style are served from: the fastapi-offline package's copy of Swagger UI, so
#: /docs works without the internet (FastAPI's default loads it from a CDN; /redoc is left out: its page loads
#: a logo from the internet).
DOCS_ASSETS = "/docs-assets"

#: The page loads only its own script and style, and shows the photo the user picked (a blob: URL).
PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def open_gallery(settings: ServeSettings) -> Gallery:
    """The gallery the settings name (its database and vector store), with a recognizer built from their
    pipeline (created if missing)."""
    import sys

    from facerec.recognizer import build_recognizer

    recognizer = build_recognizer(settings.pipeline_config())
    torch = sys.modules.get("torch")  # the service owns its process: torch's threads as the pipeline's, if loaded
    if torch is not None:
        torch.set_num_threads(recognizer.threads)
    return Gallery(recognizer, db=settings.db, index_path=settings.index_path, vectors=settings.vectors,
                   threshold=settings.threshold, index_kind=settings.index_kind)  # type: ignore[arg-type]


def create_app(settings: ServeSettings, *, gallery: Gallery | None = None) -> FastAPI:
    """The service over the gallery of ``settings`` (or the ``gallery`` given, e.g. in tests)."""
    from facerec.serve import routes_admin, routes_faces, routes_people

    gallery = gallery or open_gallery(settings)
    access = AccessStore(db_url(settings.db) if settings.db else default_db_url())
    service = Service(settings, gallery, access, AuditLog(access),
                      WorkQueue(settings.concurrency, max(settings.queue_size, settings.concurrency),
                                settings.timeout_s))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(title="facerec", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Face verification and identification over a gallery. Every /v1 route but "
                              "/v1/health needs an API key (`facerec keys create`) in the X-API-Key header.")
    app.state.service = service
    install_error_handlers(app)
    for module in (routes_faces, routes_people, routes_admin):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_docs(app)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    templates = RouteTemplates(app_templates(app))
    app.add_middleware(AccessMiddleware, access=access, limiter=RateLimiter(settings.rate_per_key,
                       settings.burst_per_key), max_body=settings.max_upload_bytes, audit=service.audit,
                       templates=templates)
    redact_access_log(templates)  # no person's name in the access log
    app.add_middleware(SecurityHeaders)
    return app


def add_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) with its script and style served by this app, and an OpenAPI document
    without FastAPI's 422 "Validation Error" answers: this service answers a bad request 400 (422 means no
    face), as each route's responses say."""
    app.mount(DOCS_ASSETS, StaticFiles(packages=[(fastapi_offline.__name__, "static")]), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=str(app.openapi_url), title=f"{app.title} API",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
                                   # no validator badge: it is an image from the internet
                                   swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None})

    make_schema = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = make_schema()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    if operation.get("responses", {}).get("422", {}).get("description") == "Validation Error":
                        del operation["responses"]["422"]
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_env() -> FastAPI:
    """The app for each worker process of ``facerec serve --workers N`` (settings from the environment)."""
    return create_app(ServeSettings.from_env())


class SecurityHeaders:
    """nosniff, no referrer, no caching of answers about people, and a strict CSP on the page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                            (b"x-frame-options", b"DENY")]
                if path.startswith("/v1/"):
                    headers.append((b"cache-control", b"no-store"))
                if path == "/" or path.startswith("/static/"):
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
