"""The gallery commands that load no model: ``facerec list``, ``remove``, ``rename`` and ``index``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import click

from facerec.cli.common import CONTEXT, FaceRecGroup, count, emit, shown
from facerec.cli.options import StoreOptions, store_options

__all__ = ["index_group", "list_command", "remove_command", "rename_command"]


@click.command("list", context_settings=CONTEXT)
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(store: StoreOptions, as_json: bool) -> None:
    """List enrolled people and how many faces each has."""
    people = store.open_store(write=False).identities()
    if as_json:
        # the shape of GET /v1/people: the people, how many (count), and their faces in all
        emit({"people": [{"name": p.name, "faces": p.faces, "created_at": p.created_at} for p in people],
              "count": len(people), "faces": sum(p.faces for p in people)})
        return
    for person in people:
        click.echo(f"{person.faces:4d}  {person.name}")
    click.echo(f"{count(len(people), 'person', 'people')}, {count(sum(p.faces for p in people), 'face')}",
               err=True)


@click.command("remove", context_settings=CONTEXT)
@click.argument("name")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def remove_command(name: str, store: StoreOptions, as_json: bool) -> None:
    """Remove NAME and all their faces from the gallery (database and index at once)."""
    faces = store.open_store().remove(name)
    if as_json:
        emit({"removed": name, "faces_removed": faces})
    else:
        click.echo(f"removed {shown(name)} ({count(faces, 'face')})")


@click.command("rename", context_settings=CONTEXT)
@click.argument("old")
@click.argument("new")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rename_command(old: str, new: str, store: StoreOptions, as_json: bool) -> None:
    """Rename identity OLD to NEW."""
    store.open_store().rename(old, new)
    if as_json:
        emit({"renamed": old, "to": new})
    else:
        click.echo(f"renamed {shown(old)} -> {shown(new)}")


@click.group("index", cls=FaceRecGroup, context_settings=CONTEXT)
def index_group() -> None:
    """Inspect or rebuild the gallery's vector store (FAISS or Milvus)."""


@index_group.command("rebuild")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def index_rebuild_command(store: StoreOptions, as_json: bool) -> None:
    """Rebuild the vector store from the database (streamed in batches: bounded memory).

    With --index-kind, rebuild it as that kind of index, which the gallery keeps from then on.
    """
    gallery = replace(store, index_kind=None).open_store()
    gallery.rebuild(store.index_kind)
    stats = gallery.stats()
    if as_json:
        emit(stats)
    else:
        click.echo(f"rebuilt {stats['vectors']}: {count(stats['indexed'], 'face')}, revision {stats['revision']}")


@index_group.command("stats")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def index_stats_command(store: StoreOptions, as_json: bool) -> None:
    """Show the gallery's size, whether its index is in step with the database, and the open-set threshold
    identification uses: the stored one where it agrees with what it is derived from, else recomputed (and why)."""
    gallery = store.open_store(write=False)
    stats = gallery.stats()
    stats["open_set"], stats["open_set_current"] = _open_set(gallery, stats["open_set"])
    if as_json:
        emit(stats)
        return
    open_set = stats.pop("open_set")
    current = stats.pop("open_set_current")
    crops = stats.pop("crops")
    for key, value in stats.items():
        click.echo(f"{key:<12} {value}")
    if crops is None and stats["faces"]:
        click.echo(f"{'side light':<12} not evened out (a gallery made before 2026-12-05: its faces, and every "
                   "probe compared with them, are embedded as they were)")
    elif crops is not None:
        click.echo(f"{'side light':<12} " + ("evened out before embedding" if crops.get("even_light")
                                            else "not evened out"))
    _space_line(crops, stats["faces"])
    if open_set:
        click.echo(_open_set_line(open_set, current))
        if open_set.get("decision"):
            click.echo(f"{'decision':<12} {open_set['decision']}")
        if open_set.get("note"):
            click.echo(f"{'':<12} {open_set['note']}")


def _space_line(crops: dict[str, Any] | None, faces: int) -> None:
    """The embedding-space key recorded with the gallery (see :mod:`facerec.embedding_space`), or that it is not."""
    from facerec.embedding_space import SPACE_SETTINGS, describe, missing

    if crops is not None and not missing(crops):
        click.echo(f"{'embedding':<12} {describe(crops, list(SPACE_SETTINGS))}")
    elif faces:
        click.echo(f"{'embedding':<12} settings not recorded (a gallery made before they were): probes cannot be "
                   "checked against them")


def _open_set(gallery, stored: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:  # noqa: ANN001
    """The open-set calibration identification uses with the default settings (checked, or recomputed: see
    :class:`facerec.open_set.GalleryOpenSet`), and whether it is the stored one; the stored one, unchecked and
    said so, where this installation does not know the gallery's model."""
    from facerec.open_set import gallery_open_set

    open_set = gallery_open_set(gallery, warn=False)  # index stats shows the note itself
    if open_set is None:
        note = f"not checked: the model {gallery.model} is not known here"
        return ({**stored, "note": note} if stored else None), False
    return open_set.calibration(save=False).to_dict(), open_set.from_store


def _open_set_line(open_set: dict[str, Any], current: bool) -> str:
    """``open set  threshold 0.412 on cosine scores from the model (...)``, and whether it is the stored one."""
    gallery = f"{open_set['gallery_threshold']:.3f}" if open_set["gallery_threshold"] is not None else "-"
    line = (f"{'open set':<12} threshold {open_set['threshold']:.3f} on {open_set['score']} scores from the "
            f"{open_set['source']} (model {open_set['model_threshold']:.3f}, gallery {gallery}, "
            f"{open_set['people']} people)")
    if current:
        return line
    if open_set.get("note"):
        return line + "; recomputed now, not the stored one"
    return line + "; recomputed now (the stored one is stale: the gallery changed since), stored on the next change"
