"""The URI schemes of a Milvus server, shared by :mod:`index.vector_store` (which picks a store's backend by
its scheme) and :mod:`index.milvus_store` (which tells a server from Milvus Lite): kept here so that neither
imports the other for it."""

from __future__ import annotations

#: URI schemes of a Milvus server, which pymilvus connects to as they are.
MILVUS_SERVER_SCHEMES = ("http://", "https://", "tcp://", "unix:")
