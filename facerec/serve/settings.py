"""The settings of a ``facerec serve`` process, frozen; passed to worker processes as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from facerec.io import DEFAULT_MAX_PIXELS
from facerec.models.detectors import DEFAULT_LANDMARKS

__all__ = ["ServeSettings", "SETTINGS_ENV"]

#: Where ``facerec serve --workers N`` hands the settings to its worker processes.
SETTINGS_ENV = "FACEREC_SERVE_SETTINGS"


@dataclass(frozen=True)
class ServeSettings:
    """Where the gallery is, which pipeline embeds, and the service's limits.

    >>> ServeSettings(db="/tmp/g.db").max_upload_bytes
    10000000
    """

    db: str | None = None
    index_path: str | None = None
    index_kind: str = "flat"
    model: str = "mobilefacenet"
    tag: str | None = None
    weights: str | None = None
    flip: bool = True
    detector: str | None = None
    landmarks: str = DEFAULT_LANDMARKS
    backend: str = "onnx"
    precision: str = "auto"
    threads: int | None = None
    detect: bool = True
    robust: bool = False
    threshold: float | None = None
    max_upload_bytes: int = 10_000_000
    max_pixels: int = DEFAULT_MAX_PIXELS
    concurrency: int = 2  # photos embedded at once per worker process
    queue_size: int = 32  # requests waiting or running per worker process; beyond: 503
    rate_per_key: float = 20.0  # requests/s per key (token bucket); 0 turns it off
    burst_per_key: int = 40
    timeout_s: float = 30.0
    keep_photos: str | None = None  # folder for the enrollment photos; None: photos are not kept

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        return cls(**json.loads(text))

    @classmethod
    def from_env(cls) -> ServeSettings:
        text = os.environ.get(SETTINGS_ENV)
        return cls.from_json(text) if text else cls()
