"""The options gallery commands share: where the gallery is (StoreOptions) and, for commands that embed,
the model and pipeline too (GalleryOptions); ``store_options`` / ``gallery_options`` add them to a command."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import click

from facerec.cli.common import make_recognizer, model_options
from index import KINDS, IndexKind

__all__ = ["GalleryOptions", "ROBUST_HELP", "StoreOptions", "gallery_options", "shown_url", "store_options"]

ROBUST_HELP = ("Re-encode each aligned face as JPEG before embedding, against adversarial photos "
               "(its cost and effect: docs/guides/adversarial.md).")


@dataclass(frozen=True)
class StoreOptions:
    """Where the gallery is: --db, --vectors (or --index); and --index-kind, the kind of vector index a new
    gallery starts with (None: the gallery's own; only `index rebuild` changes it)."""

    db: str | None
    index_path: str | None
    index_kind: IndexKind | None
    vectors: str | None = None

    @property
    def vectors_uri(self) -> str:
        """--vectors, else --index, else FACEREC_VECTORS, else the FAISS file beside the database."""
        from facerec.gallery_location import default_vectors

        return self.vectors or self.index_path or default_vectors(self.url)

    @property
    def url(self) -> str:
        from facerec.gallery_location import db_url, default_db_url

        return db_url(self.db) if self.db else default_db_url()

    def info(self) -> tuple[str, int] | None:
        """The model key and dimension the gallery is bound to; None when there is no gallery."""
        from enrollment import read_info

        return read_info(self.url)

    def require(self) -> tuple[str, int]:
        """The gallery's model and dimension, or a clear error when there is no gallery there."""
        from enrollment import NoGalleryError

        info = self.info()
        if info is None:
            raise NoGalleryError(f"no gallery at {shown_url(self.url)} "
                                 "(enroll someone first, or check --db / FACEREC_DB)")
        return info

    def open_store(self, *, write: bool = True):  # noqa: ANN201 - an enrollment.Gallery
        """The gallery's store and index, without the model: for commands that do not embed. ``write=False``
        for a command that only reads: it never creates or replaces the index file."""
        from enrollment import Gallery as Store

        model, dim = self.require()
        return Store(self.url, model=model, dim=dim, vectors=self.vectors_uri, index_kind=self.index_kind,
                     write_index=write)


@dataclass(frozen=True)
class GalleryOptions:
    """The options every gallery command that embeds shares; ``open`` turns them into a Gallery."""

    store: StoreOptions
    model: str
    tag: str | None
    weights: str | None
    no_flip: bool
    robust: bool

    def open(self, threshold: float | None = None, *, create: bool = False):  # noqa: ANN201
        """The gallery; a missing one only with ``create`` (it is made on its first write: see
        :attr:`facerec.Gallery.opened`), else a clear error before the model loads. Without ``create`` the
        command only reads: the index file is never created or replaced."""
        from facerec.gallery import Gallery

        if not create:
            self.store.require()
        recognizer = make_recognizer(self.model, self.tag, self.weights, self.no_flip, robust=self.robust)
        return Gallery(recognizer, db=self.store.url, vectors=self.store.vectors_uri, threshold=threshold,
                       index_kind=self.store.index_kind, write_index=create)

    def recipe(self):  # noqa: ANN201 - a facerec.config.PipelineConfig
        """The pipeline these options make, which each Ray actor builds its recognizer from."""
        from facerec.cli.common import pipeline_config

        return pipeline_config(robust=self.robust)


def shown_url(url: str) -> str:
    """A database URL for messages: a SQLite file as its path, any other URL without its password."""
    from sqlalchemy.engine import make_url

    return url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else \
        make_url(url).render_as_string(hide_password=True)


_STORE_OPTIONS = [
    click.option("--db", default=None, envvar="FACEREC_DB",
                 help="Gallery database: a SQLAlchemy URL or a SQLite file path "
                      "(default: gallery.db in the user data folder)."),
    click.option("--index", "index_path", type=click.Path(dir_okay=False), default=None,
                 help="FAISS index file: a new path or an index facerec made (another file is never overwritten; "
                      "default: beside a SQLite file, in memory for an in-memory one, else in the user data "
                      "folder)."),
    click.option("--vectors", default=None,
                 help="Vector store, named by its scheme: a FAISS file (a path, whatever its name, or "
                      "faiss:///path), milvus:///path/faces.db (Milvus Lite, embedded; needs facerec[milvus]) or "
                      "http://host:19530 (a Milvus server). Default: FACEREC_VECTORS, else the FAISS file of --index."),
    click.option("--index-kind", type=click.Choice(list(KINDS)), default=None,
                 help="The kind of vector index: exact search (flat), or for galleries of 100k+ faces pq "
                      "(recommended: PQ shortlist, exact re-rank), hnsw or ivf. A gallery keeps its kind (a new "
                      "one: this, else flat); `facerec index rebuild --index-kind KIND` changes it."),
]


def store_options(command: Callable) -> Callable:
    """--db, --index, --vectors and --index-kind, handed to the command as ``store``: no model is loaded."""

    @functools.wraps(command)
    def with_options(*args, db, index_path, vectors, index_kind, **kwargs):  # noqa: ANN202
        return command(*args, store=StoreOptions(db, index_path, index_kind, vectors), **kwargs)

    return functools.reduce(lambda f, option: option(f), reversed(_STORE_OPTIONS), with_options)


def gallery_options(command: Callable) -> Callable:
    """The store options plus the model and pipeline options and --robust, handed to the command as ``options``."""

    @functools.wraps(command)
    def with_options(*args, db, index_path, vectors, index_kind, model, tag, weights, no_flip, robust,  # noqa: ANN202
                     **kwargs):
        options = GalleryOptions(StoreOptions(db, index_path, index_kind, vectors), model, tag, weights, no_flip,
                                 robust)
        return command(*args, options=options, **kwargs)

    options = [*_STORE_OPTIONS, click.option("--robust", is_flag=True, help=ROBUST_HELP)]
    return model_options(functools.reduce(lambda f, option: option(f), reversed(options), with_options))
