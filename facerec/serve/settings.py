"""The settings of a ``facerec serve`` process, frozen; passed to worker processes as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from facerec.config import PipelineConfig

__all__ = ["ServeSettings", "SETTINGS_ENV", "SERVE_MAX_PIXELS"]

#: Where ``facerec serve --workers N`` hands the settings to its worker processes.
SETTINGS_ENV = "FACEREC_SERVE_SETTINGS"

#: The service's photo limit, 25 megapixels (a 24 MP camera photo passes), half the library's: a photo is
#: refused from its header, before decoding, and decoding one takes at most about 8 bytes a pixel for a
#: moment (200 MB) before it is brought down to :data:`facerec.io.WORK_PIXELS`; ``concurrency`` photos
#: decode at once per worker.
SERVE_MAX_PIXELS = 25_000_000


@dataclass(frozen=True)
class ServeSettings:
    """Where the gallery is, which pipeline embeds, and the service's limits.

    >>> ServeSettings(db="/tmp/g.db").max_upload_bytes
    10000000
    """

    db: str | None = None
    index_path: str | None = None
    index_kind: str | None = None  # None: the kind kept with the gallery
    vectors: str | None = None  # the vector store (a FAISS file, milvus:///path.db, http://host:19530); None: default
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)  # what embeds (its pixel limit: max_pixels)
    threshold: float | None = None
    max_upload_bytes: int = 10_000_000
    max_pixels: int = SERVE_MAX_PIXELS
    concurrency: int = 2  # photos embedded at once per worker process
    queue_size: int = 32  # requests waiting or running per worker process; beyond: 503
    rate_per_key: float = 20.0  # requests/s per key (token bucket); 0 turns it off
    burst_per_key: int = 40
    timeout_s: float = 30.0  # waiting and running; a read past it is answered 503 and its work stops
    header_timeout_s: float = 10.0  # a request's headers must arrive within this (from connect or last answer)
    body_timeout_s: float = 30.0  # and its body within this of its headers; else 408 and the connection closes
    keep_photos: str | None = None  # folder for the enrollment photos; None: photos are not kept

    def server_options(self) -> dict[str, Any]:
        """What uvicorn runs with besides the app and its address: the read deadlines, no ``Server`` header."""
        from facerec.serve.limits import http_protocol

        return {"http": http_protocol(self.header_timeout_s, self.body_timeout_s), "server_header": False}

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        data = json.loads(text)
        return cls(**{**data, "pipeline": PipelineConfig.from_dict(data.get("pipeline", {}))})

    def pipeline_config(self) -> PipelineConfig:
        """The pipeline the service builds: ``pipeline`` with the service's own photo limit."""
        return replace(self.pipeline, max_pixels=self.max_pixels)

    @classmethod
    def from_env(cls) -> ServeSettings:
        text = os.environ.get(SETTINGS_ENV)
        return cls.from_json(text) if text else cls()
