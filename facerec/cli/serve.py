"""``facerec serve``: the gallery as an authenticated HTTP service with a web page."""

from __future__ import annotations

import ipaddress
import os

import click

from facerec.cli.common import THRESHOLD
from facerec.cli.options import GalleryOptions, gallery_options

__all__ = ["COMMAND", "serve_command"]

MB = 1_000_000


@click.command("serve")
@gallery_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes biometric data: put TLS in front.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (each loads the model and has its own queue).")
@click.option("--threshold", type=THRESHOLD, default=None,
              help="Open-set threshold for identify (default: calibrated for the gallery's size).")
@click.option("--max-upload-mb", default=10.0, show_default=True, type=click.FloatRange(0.01, 1000),
              help="Largest request body, in MB (photos of one request together); beyond: 413.")
@click.option("--max-pixels", default=25_000_000, show_default=True, type=click.IntRange(1, None),
              help="Largest photo in pixels (decompression-bomb guard), refused before decoding; beyond: 413. "
                   "Photos over 4 MP are downscaled while decoding; decoding takes up to ~8 bytes a pixel.")
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Photos processed at once per worker.")
@click.option("--queue", "queue_size", default=32, show_default=True, type=click.IntRange(1, 10_000),
              help="Requests admitted (running or waiting) per worker; beyond: 503 with Retry-After.")
@click.option("--rate", default=20.0, show_default=True, type=click.FloatRange(0, None),
              help="Requests per second per API key (0: no limit); beyond: 429 with Retry-After.")
@click.option("--burst", default=40, show_default=True, type=click.IntRange(1, None),
              help="Requests one key may send at once before --rate applies.")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(0.1, None),
              help="Seconds a request may wait and run; beyond: 503 and its work stops (an enrollment that "
                   "started is finished).")
@click.option("--header-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, None),
              help="Seconds a client has to send a request's headers (from connecting, or from the last answer); "
                   "beyond: 408 and the connection is closed.")
@click.option("--body-timeout", default=30.0, show_default=True, type=click.FloatRange(0.1, None),
              help="Seconds a client has to send a request's body once its headers are in; beyond: 408 and the "
                   "connection is closed.")
@click.option("--keep-photos", type=click.Path(file_okay=False), default=None,
              help="Keep enrollment photos in this folder (default: photos are not stored, only embeddings).")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
              show_default=True, help="Server log level (request lines never include API keys).")
def serve_command(options: GalleryOptions, host: str, port: int, workers: int, threshold: float | None,
                  max_upload_mb: float, max_pixels: int, concurrency: int, queue_size: int, rate: float, burst: int,
                  timeout: float, header_timeout: float, body_timeout: float, keep_photos: str | None,
                  log_level: str) -> None:
    """Serve the gallery over HTTP: JSON API under /v1, a web page at /, OpenAPI docs at /docs.

    Every /v1 route but /v1/health needs an API key: create one with `facerec keys create`.
    """
    try:
        import uvicorn

        from facerec.serve import ServeSettings, create_app
        from facerec.serve.settings import SETTINGS_ENV
    except ImportError as exc:
        raise click.ClickException(f"facerec serve needs the serve extra ({exc.name} is missing): "
                                   "pip install 'facerec[serve]'") from None
    settings = ServeSettings(
        db=options.store.url, index_path=options.store.index_path, index_kind=options.store.index_kind,
        vectors=options.store.vectors, pipeline=options.recipe(), threshold=threshold,
        max_upload_bytes=int(max_upload_mb * MB), max_pixels=max_pixels,
        concurrency=concurrency, queue_size=max(queue_size, concurrency), rate_per_key=rate, burst_per_key=burst,
        timeout_s=timeout, header_timeout_s=header_timeout, body_timeout_s=body_timeout, keep_photos=keep_photos)
    if not _loopback(host):
        click.echo(f"warning: listening on {host}, beyond this machine; put TLS in front of it", err=True)
    from enrollment import AccessStore, NoGalleryError

    try:  # only looked at: another program's database is refused here, before anything is written into it
        access = AccessStore(settings.db or "", create=False)
    except NoGalleryError:  # a new gallery, made by the service
        active = False
    else:
        active = any(k.active for k in access.keys())
        access.close()
    if not active:
        click.echo("note: no API key yet; create one with `facerec keys create --role admin`", err=True)
    if workers == 1:
        app = create_app(settings)
        uvicorn.run(app, host=host, port=port, log_level=log_level, **settings.server_options())
        return
    os.environ[SETTINGS_ENV] = settings.to_json()
    uvicorn.run("facerec.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, **settings.server_options())


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


COMMAND = serve_command
