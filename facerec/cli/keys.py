"""``facerec keys``: create, list and revoke the API keys of ``facerec serve`` (stored hashed in the gallery).

Each change is written to the audit log, under the key id ``cli`` (the HTTP routes write the admin key's id).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from facerec.cli.common import FaceRecGroup, emit
from facerec.cli.options import StoreOptions, store_options

if TYPE_CHECKING:
    from enrollment import AccessStore

__all__ = ["COMMAND", "keys_group", "CLI_KEY_ID"]

#: Who made a change from the command line, in the audit log.
CLI_KEY_ID = "cli"


@click.group("keys", cls=FaceRecGroup)
def keys_group() -> None:
    """API keys for `facerec serve`: read (verify, identify, list), enroll (plus changes), admin (plus keys)."""


def _access(store: StoreOptions, *, create: bool = False) -> AccessStore:
    """The key store of the gallery database; made (with its file) only by ``create``: listing or revoking keys
    of a database that does not exist says so. Another program's database is refused, untouched."""
    from enrollment import AccessStore
    from enrollment.store import database_errors

    with database_errors(store.url):  # a folder, a file that is not a database, a bogus URL: one clear line
        return AccessStore(store.url, create=create)


def _audit(access: AccessStore, action: str, outcome: str) -> None:
    from datetime import datetime, timezone

    from enrollment import AuditRecord

    access.record([AuditRecord(CLI_KEY_ID, action, None, outcome, datetime.now(timezone.utc))])


@keys_group.command("create")
@click.option("--role", type=click.Choice(["read", "enroll", "admin"]), required=True,
              help="read: verify, identify, list; enroll: plus enroll, rename, remove; admin: plus keys.")
@click.option("--label", default="", help="Whose key it is (free text, e.g. 'front door').")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_create_command(role: str, label: str, store: StoreOptions, as_json: bool) -> None:
    """Create a key and print it once: only its hash is stored."""
    access = _access(store, create=True)
    try:
        info, secret = access.create_key(role, label=label)
        _audit(access, "key-create", f"created {info.key_id} ({info.role})")
    finally:
        access.close()
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
    access = _access(store)
    try:
        keys = access.keys()
    finally:
        access.close()
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
    access = _access(store)
    try:
        info = access.revoke(key_id.removeprefix("frk_").split("_")[0])
        _audit(access, "key-revoke", f"revoked {info.key_id}")
    finally:
        access.close()
    if as_json:
        emit({"revoked": info.key_id})
    else:
        click.echo(f"revoked {info.key_id}")


COMMAND = keys_group
