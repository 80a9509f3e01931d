"""What the routes share: the gallery, the work queue, the audit log and the key store."""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Iterator

import numpy as np
from fastapi import Depends, Request
from PIL import Image

from enrollment import AccessStore, EnrollResult
from enrollment.names import check_name  # the one name rule, shared with the CLI and the library
from facerec.errors import ImageReadError, ImageTooLargeError, MultipleFacesError, NoFaceError
from facerec.gallery import Gallery
from facerec.io import WORK_PIXELS, DecodedImage, decode_image, decoding_pixels
from facerec.serve.audit import AuditLog
from facerec.serve.limits import PixelBudget, WorkQueue, check_cancelled, return_freed_memory
from facerec.serve.settings import ServeSettings

__all__ = ["Service", "Upload", "get_service", "check_name", "upload_name", "json_safe", "ServiceDep"]


@dataclass(frozen=True)
class Upload:
    """An uploaded photo: the name it came with (for messages only) and its bytes."""

    filename: str
    data: bytes


@dataclass
class Service:
    settings: ServeSettings
    gallery: Gallery
    access: AccessStore
    audit: AuditLog
    queue: WorkQueue
    #: Photos over the working size decode at most ``max_pixels`` at a time (one photo at the limit).
    decoding: PixelBudget = field(init=False)

    def __post_init__(self) -> None:
        self.decoding = PixelBudget(self.settings.max_pixels)
        return_freed_memory()

    def decode(self, upload: Upload) -> DecodedImage:
        """The photo, decoded at its working size (large photos are downscaled while decoding; faces found in
        it are given in the photo's own pixels); its errors name the upload, not ``<N bytes>``. Not started
        when the request has already timed out (see :func:`~facerec.serve.limits.check_cancelled`).

        Memory: a photo over :data:`~facerec.io.WORK_PIXELS` takes about 4-8 bytes a pixel while it decodes
        (a JPEG far less: it decodes reduced), within the :attr:`decoding` budget; then about 3 bytes a
        working pixel (12 MB) and the detectors' copies of that."""
        check_cancelled()
        if not upload.data:
            raise ImageReadError(upload.filename, "the upload is empty")
        pixels = decoding_pixels(upload.data)
        large = WORK_PIXELS < pixels <= self.settings.max_pixels  # over the limit: refused before decoding
        with self.decoding.hold(pixels if large else 0), named(upload.filename):
            check_cancelled()
            return decode_image(upload.data, max_pixels=self.settings.max_pixels)

    def enroll(self, name: str, uploads: list[Upload], *, require_single: bool, allow_duplicate: bool) -> EnrollResult:
        """Enroll ``name`` from the uploads (all or nothing); the photos are kept only with ``keep_photos``.

        The enrollment is committed to the database before it is acknowledged; the index file is written
        at most every few seconds and when the service stops (a stale index is rebuilt from the database)."""
        pixels = [self.decode(upload) for upload in uploads]
        if self.settings.keep_photos is None:
            with named(_which(uploads)):
                return self.gallery.enroll(name, pixels, require_single=require_single, allow_duplicate=allow_duplicate,
                                           save=False)
        folder = Path(self.settings.keep_photos)
        folder.mkdir(parents=True, exist_ok=True)
        paths, written = [], []
        for upload in uploads:
            path = folder / f"{hashlib.sha256(upload.data).hexdigest()}{_suffix(upload.data)}"
            if not path.exists():
                path.write_bytes(upload.data)
                written.append(path)
            paths.append(path)
        try:
            with named(_which(uploads)):
                return self.gallery.enroll(name, paths, require_single=require_single, allow_duplicate=allow_duplicate,
                                           save=False)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise

    def close(self) -> None:
        self.queue.close()
        self.audit.close()
        with self.gallery.lock:
            self.gallery.store.save()
        self.gallery.close()
        self.access.close()


def get_service(request: Request) -> Service:
    """A route dependency: the service of the app that took the request."""
    service: Service = request.app.state.service
    return service


#: A route parameter: the service.
ServiceDep = Annotated[Service, Depends(get_service)]


@contextlib.contextmanager
def named(source: str) -> Iterator[None]:
    """Re-raise image and face errors with ``source`` (the upload's name) in place of ``<array ...>``."""
    try:
        yield
    except ImageTooLargeError as exc:
        raise ImageTooLargeError(source, exc.reason) from None
    except ImageReadError as exc:
        raise ImageReadError(source, exc.reason) from None
    except NoFaceError:
        raise NoFaceError(source) from None
    except MultipleFacesError as exc:
        raise MultipleFacesError(source, exc.count) from None


def upload_name(filename: str | None) -> str:
    """The client's file name, shortened and printable, for messages."""
    text = "".join(c for c in (filename or "upload") if c.isprintable())[:100]
    return text or "upload"


def _which(uploads: list[Upload]) -> str:
    return uploads[0].filename if len(uploads) == 1 else "one of " + ", ".join(u.filename for u in uploads)


#: A kept photo's file extension, by the format its bytes decode as (never the client's file name: ``.php``).
SUFFIXES = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif",
            "GIF": ".gif"}


def _suffix(data: bytes) -> str:
    """The file extension of the photo's own format, read from its header; ``.img`` for any other."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return SUFFIXES.get(image.format or "", ".img")
    except Exception:  # noqa: BLE001 - it decoded already; a name is no reason to fail the enrollment
        return ".img"


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and NaN or infinities as null (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
