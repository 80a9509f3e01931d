"""Admin routes: API keys and the audit log."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from enrollment import ApiKeyInfo
from facerec.serve.auth import AdminKey
from facerec.serve.models import KEYED, AuditAnswer, AuditLine, KeyInfo, KeysAnswer, NewKeyAnswer, errors
from facerec.serve.service import ServiceDep

__all__ = ["router", "key_dict"]

router = APIRouter(prefix="/v1", tags=["admin"])


class NewKey(BaseModel):
    role: Literal["read", "enroll", "admin"] = Field(..., description="What the key may do.")
    label: str = Field("", max_length=200, description="Whose key it is (free text).")


def key_dict(info: ApiKeyInfo) -> dict[str, object]:
    """A key as the API lists it (never its secret)."""
    return {"key_id": info.key_id, "role": info.role, "label": info.label, "active": info.active,
            "created_at": info.created_at.isoformat(),
            "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None}


@router.get("/keys", summary="The API keys (never their secrets)", responses=errors(*KEYED))
async def keys(service: ServiceDep, _key: AdminKey) -> KeysAnswer:
    found = await run_in_threadpool(service.access.keys)
    return KeysAnswer(keys=[KeyInfo.model_validate(key_dict(k)) for k in found])


@router.post("/keys", status_code=201, summary="Create a key; its secret is shown in this answer only",
             responses=errors(*KEYED, 400))
async def create_key(body: NewKey, service: ServiceDep,
                     key: AdminKey) -> NewKeyAnswer:
    info, secret = await run_in_threadpool(lambda: service.access.create_key(body.role, label=body.label))
    service.audit.record(key.key_id, "key-create", None, f"created {info.key_id} ({info.role})")
    return NewKeyAnswer.model_validate({**key_dict(info), "key": secret})


@router.delete("/keys/{key_id}", summary="Revoke a key", responses=errors(*KEYED, 400))
async def revoke_key(key_id: str, service: ServiceDep,
                     key: AdminKey) -> KeyInfo:
    info = await run_in_threadpool(service.access.revoke, key_id)
    service.audit.record(key.key_id, "key-revoke", None, f"revoked {info.key_id}")
    return KeyInfo.model_validate(key_dict(info))


@router.get("/audit", summary="The latest audit lines, newest first", responses=errors(*KEYED, 400))
async def audit(service: ServiceDep, _key: AdminKey,
                limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> AuditAnswer:
    await run_in_threadpool(service.audit.flush)
    lines = await run_in_threadpool(service.access.audit, limit)
    return AuditAnswer(audit=[AuditLine(key_id=a.key_id, action=a.action, person=a.person, outcome=a.outcome,
                                        at=a.at.isoformat()) for a in lines])
