"""Routes that change or list the gallery: enroll, list, rename, remove."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from enrollment import GalleryError, UnknownIdentityError
from enrollment.names import _shown, check_name
from facerec.serve.auth import EnrollKey, ReadKey
from facerec.serve.models import KEYED, PHOTOS, Enrolled, PeopleAnswer, Person, Removed, Renamed, errors
from facerec.serve.routes_faces import read_upload
from facerec.serve.service import ServiceDep

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["people"])

MAX_PHOTOS = 20


class Rename(BaseModel):
    # Its length is checked by check_name, after NFC and stripping, as for every name (not here, on the raw text).
    name: str = Field(..., description="The new name (1 to 255 characters; no slashes, control or invisible "
                                       "characters).", max_length=4096)


@router.post("/people", status_code=201, summary="Enroll a person from one or more photos (all or nothing)",
             responses={200: {"model": Enrolled, "description": "Every face was already enrolled under this name."},
                        **errors(*KEYED, *PHOTOS, 409)})
async def enroll(
    response: Response, service: ServiceDep, key: EnrollKey,
    name: Annotated[str, Form(description="The person's name (1 to 255 characters; no slashes, control or "
                                          "invisible characters).")],
    images: Annotated[list[UploadFile], File(description=f"1 to {MAX_PHOTOS} photos, the largest face of each.")],
    require_single: Annotated[bool, Form(description="Refuse photos that show more than one face (422).")] = False,
    allow_duplicate: Annotated[bool, Form(description="Enroll even when the face matches someone else "
                                                      "(else 409).")] = False,
) -> Enrolled:
    if not images or len(images) > MAX_PHOTOS:
        raise GalleryError(f"send 1 to {MAX_PHOTOS} photos, got {len(images)}")
    uploads = [await read_upload(image) for image in images]
    try:
        person = check_name(name)
        result = await service.queue.run(
            lambda: service.enroll(person, uploads, require_single=require_single, allow_duplicate=allow_duplicate),
            write=True)
    except Exception as exc:
        service.audit.record(key.key_id, "enroll", name[:1024], type(exc).__name__)
        raise
    added = len(result.added_ids)
    service.audit.record(key.key_id, "enroll", result.name, f"{added} face{'' if added == 1 else 's'} added")
    if not result.added_ids:
        response.status_code = 200
    return Enrolled(name=result.name, faces_added=len(result.added_ids), already_enrolled=result.skipped)


@router.get("/people", summary="Everyone enrolled, with their number of faces", responses=errors(*KEYED))
async def people(service: ServiceDep, _key: ReadKey) -> PeopleAnswer:
    found = await run_in_threadpool(service.gallery.identities)
    return PeopleAnswer(people=[Person(name=p.name, faces=p.faces, created_at=p.created_at.isoformat())
                                for p in found], count=len(found), faces=sum(p.faces for p in found))


@router.patch("/people/{name}", summary="Rename a person", responses=errors(*KEYED, 400, 404, 409))
async def rename(name: str, body: Rename, service: ServiceDep,
                 key: EnrollKey) -> Renamed:
    try:
        new = check_name(body.name)
        await run_in_threadpool(service.gallery.rename, _enrollable(name), new)
    except Exception as exc:
        service.audit.record(key.key_id, "rename", name, type(exc).__name__)
        raise
    service.audit.record(key.key_id, "rename", f"{name} -> {new}", "renamed")
    return Renamed(renamed=name, to=new)


@router.delete("/people/{name}", summary="Remove a person and all their faces (database and index at once)",
               responses=errors(*KEYED, 404))
async def remove(name: str, service: ServiceDep,
                 key: EnrollKey) -> Removed:
    try:
        faces = await run_in_threadpool(service.gallery.remove, _enrollable(name))
    except Exception as exc:
        service.audit.record(key.key_id, "remove", name, type(exc).__name__)
        raise
    service.audit.record(key.key_id, "remove", name, f"{faces} faces removed")
    return Removed(removed=name, faces_removed=faces)


def _enrollable(name: str) -> str:
    """A name from the path, or 404 when no one can be enrolled under it: a NUL character, which PostgreSQL
    refuses in any query (a 500 otherwise) and the service refuses when enrolling."""
    if "\x00" in name:
        raise UnknownIdentityError(f"no identity named {_shown(name)} is enrolled")
    return name
