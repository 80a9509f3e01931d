"""``facerec keys``: create, list and revoke the API keys of ``facerec serve`` (stored hashed in the gallery)."""

from __future__ import annotations

import click

from facerec.cli.common import FaceRecGroup, emit
from facerec.cli.core import StoreOptions, store_options

__all__ = ["COMMAND", "keys_group"]


@click.group("keys", cls=FaceRecGroup)
def keys_group() -> None:
    """API keys for `facerec serve`: read (verify, identify, list), enroll (plus changes), admin (plus keys)."""


def _access(store: StoreOptions):  # noqa: ANN202 - an enrollment.AccessStore
    from enrollment import AccessStore

    return AccessStore(store.url)


@keys_group.command("create")
@click.option("--role", type=click.Choice(["read", "enroll", "admin"]), required=True,
              help="read: verify, identify, list; enroll: plus enroll, rename, remove; admin: plus keys.")
@click.option("--label", default="", help="Whose key it is (free text, e.g. 'front door').")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_create_command(role: str, label: str, store: StoreOptions, as_json: bool) -> None:
    """Create a key and print it once: only its hash is stored."""
    info, secret = _access(store).create_key(role, label=label)
    if as_json:
        emit({"key_id": info.key_id, "role": info.role, "label": info.label, "key": secret})
        return
    click.echo(secret)
    click.echo(f"created key {info.key_id} ({info.role}); it is shown only now, keep it secret", err=True)


@keys_group.command("list")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_list_command(store: StoreOptions, as_json: bool) -> None:
    """List the keys (ids, roles, labels; never the secrets)."""
    keys = _access(store).keys()
    if as_json:
        emit({"keys": [{"key_id": k.key_id, "role": k.role, "label": k.label, "active": k.active,
                        "created_at": k.created_at, "revoked_at": k.revoked_at} for k in keys]})
        return
    for key in keys:
        state = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
        click.echo(f"{key.key_id}  {key.role:<6}  {state:<22}  {key.label}")


@keys_group.command("revoke")
@click.argument("key_id")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_revoke_command(key_id: str, store: StoreOptions, as_json: bool) -> None:
    """Revoke KEY_ID (the part after frk_ in the key, as `facerec keys list` shows it)."""
    info = _access(store).revoke(key_id.removeprefix("frk_").split("_")[0])
    if as_json:
        emit({"revoked": info.key_id})
    else:
        click.echo(f"revoked {info.key_id}")


COMMAND = keys_group
