"""facerec's errors as HTTP answers: one JSON shape, ``{"error": <class>, "detail": <message>}``.

=====================================  ======
ImageTooLargeError (pixels), body size  413
ImageReadError, bad names, bad form     400
UnknownIdentityError                    404
DuplicateIdentityError, DuplicateFace   409
NoFaceError, MultipleFacesError         422
no key / a wrong key                    401
the key's role is too low               403
over the key's rate                     429
queue full, timed out                   503 (with Retry-After)
=====================================  ======
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from enrollment import DuplicateIdentityError, GalleryError, UnknownIdentityError
from facerec.errors import (
    DuplicateFaceError,
    FaceRecError,
    ImageReadError,
    ImageTooLargeError,
    MultipleFacesError,
    NoFaceError,
)
from facerec.serve.auth import Forbidden
from facerec.serve.limits import Overloaded

__all__ = ["install_error_handlers", "STATUS"]

#: Most specific first: the first class an error is an instance of gives its status.
STATUS: tuple[tuple[type[Exception], int], ...] = (
    (ImageTooLargeError, 413),
    (ImageReadError, 400),
    (NoFaceError, 422),
    (MultipleFacesError, 422),
    (UnknownIdentityError, 404),
    (DuplicateIdentityError, 409),
    (DuplicateFaceError, 409),
    (GalleryError, 400),
    (FaceRecError, 500),
)


def _error(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn each error into its status."""

    @app.exception_handler(FaceRecError)
    async def facerec_error(_request: Request, exc: FaceRecError) -> JSONResponse:
        status = next(code for kind, code in STATUS if isinstance(exc, kind))
        detail = str(exc)
        if isinstance(exc, DuplicateFaceError):  # the library's message names a CLI flag
            detail = (f"the face to enroll as {exc.name!r} matches {exc.other!r} already enrolled (score "
                      f"{exc.score:.3f} >= {exc.threshold:.3f}); send allow_duplicate=true to enroll anyway")
        return _error(status, type(exc).__name__, detail)

    @app.exception_handler(Forbidden)
    async def forbidden(_request: Request, exc: Forbidden) -> JSONResponse:
        return _error(403, "Forbidden", str(exc))

    @app.exception_handler(Overloaded)
    async def overloaded(_request: Request, exc: Overloaded) -> JSONResponse:
        return _error(503, "Overloaded", str(exc), {"retry-after": str(exc.retry_after)})

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg')}"
                             for e in exc.errors())
        return _error(400, "BadRequest", problems or "invalid request")

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        names = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed", 413: "TooLarge"}
        return _error(exc.status_code, names.get(exc.status_code, "HTTPError"), str(exc.detail),
                      dict(exc.headers) if exc.headers else None)
