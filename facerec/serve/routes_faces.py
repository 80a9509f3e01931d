"""Routes that look at faces and read the gallery: health, models, verify, identify, watch, stats."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from facerec import __version__
from facerec.open_set import FAR
from facerec.serve.auth import ReadKey
from facerec.serve.models import (
    KEYED,
    PHOTOS,
    Health,
    IdentifyAnswer,
    ModelsAnswer,
    StatsAnswer,
    VerifyAnswer,
    WatchAnswer,
    errors,
)
from facerec.serve.service import ServiceDep, Upload, json_safe, upload_name

__all__ = ["router", "read_upload", "upload_label"]

router = APIRouter(prefix="/v1", tags=["faces"])

#: The gallery statistics /v1/stats shows; never where the index lives (a server path, a Milvus address).
STATS_SHOWN = ("model", "dim", "backend", "index_kind", "identities", "faces", "indexed", "revision", "in_step",
               "open_set", "open_set_current")


async def read_upload(file: UploadFile) -> Upload:
    return Upload(upload_name(file.filename), await file.read())


def upload_label(upload: Upload) -> str:
    """How face errors name an upload: ``upload 'a.jpg'`` (not the decoded ``<image 250x250>``)."""
    return f"upload {upload.filename!r}"


@router.get("/health", summary="Is the service up (no key needed)")
async def health() -> Health:
    return Health(status="ok", version=__version__)


@router.get("/models", summary="The embedding model, detector and thresholds in use, and the models known",
            responses=errors(*KEYED))
async def models(service: ServiceDep, _key: ReadKey) -> ModelsAnswer:
    from facerec.models import list_detectors, list_models

    recognizer = service.gallery.recognizer
    weights = recognizer.weights
    return ModelsAnswer.model_validate(json_safe({
        "model": recognizer.model_key, "embedding_size": weights.embedding_size,
        "verify_threshold": recognizer.verify_threshold()[0], "verify_decision": recognizer.verify_threshold()[1],
        "identify_threshold": service.gallery.threshold,
        "detector": getattr(recognizer.detector, "name", type(recognizer.detector).__name__),
        "backend": recognizer.backend, "precision": recognizer.precision, "models": list_models(),
        "detectors": list_detectors(),
    }))


@router.post("/verify", summary="Whether two photos show the same person (largest face of each)",
             responses=errors(*KEYED, *PHOTOS))
async def verify(
    service: ServiceDep, _key: ReadKey,
    image_a: Annotated[UploadFile, File(description="The first photo.")],
    image_b: Annotated[UploadFile, File(description="The second photo.")],
    require_single: Annotated[bool, Form(description="Refuse photos that show more than one face (422).")] = False,
    far: Annotated[float, Form(gt=0, lt=1, description="The false-accept rate to keep (the same decision as "
                                                         "identify at this FPIR against a gallery of image_a alone).")
                   ] = FAR,
) -> VerifyAnswer:
    uploads = [await read_upload(image_a), await read_upload(image_b)]

    def job() -> dict[str, Any]:
        a, b = (service.decode(u) for u in uploads)
        result = service.gallery.recognizer.verify(a, b, require_single=require_single, far=far,
                                                   names=(upload_label(uploads[0]), upload_label(uploads[1])))
        return {"model": service.gallery.recognizer.model_key, **result.to_dict()}

    return VerifyAnswer.model_validate(json_safe(await service.queue.run(job)))


@router.post("/identify", summary="Who is in a photo: the largest face, or every face, with the top-k candidates",
             responses=errors(*KEYED, *PHOTOS))
async def identify(
    service: ServiceDep, key: ReadKey,
    image: Annotated[UploadFile, File(description="The photo.")],
    top_k: Annotated[int, Form(ge=1, le=100, description="Candidates to list per face.")] = 5,
    all_faces: Annotated[bool, Form(description="Every face in the photo, not just the largest.")] = False,
) -> IdentifyAnswer:
    upload = await read_upload(image)

    def job() -> dict[str, Any]:
        pixels = service.decode(upload)
        results = service.gallery.identify(pixels, top_k=top_k, all_faces=all_faces, name=upload_label(upload))
        fixed = service.gallery.fixed_threshold
        return {"image": {"width": pixels.width, "height": pixels.height},  # the photo's own size, as the boxes
                "threshold": results[0].threshold, "faces": [r.to_dict() for r in results],
                "decision": f"cosine, the fixed threshold {fixed:g}" if fixed is not None
                else service.gallery.calibration().decision()}

    try:
        answer = await service.queue.run(job)
    except Exception as exc:
        service.audit.record(key.key_id, "identify", None, type(exc).__name__)
        raise
    names = [face["name"] for face in answer["faces"] if face["name"]]
    service.audit.record(key.key_id, "identify", ", ".join(names) or None,
                         f"{len(names)} of {len(answer['faces'])} faces recognized")
    return IdentifyAnswer.model_validate(json_safe(answer))


#: The longest clip /v1/watch takes, in seconds (its size is bounded by the upload limit, as a photo's).
MAX_CLIP_SECONDS = 60.0


@router.post("/watch", summary="Who appears when in a video clip: faces tracked, each track identified once",
             responses=errors(*KEYED, *PHOTOS))
async def watch(
    service: ServiceDep, key: ReadKey,
    video: Annotated[UploadFile, File(description=f"The clip (MP4, WebM, AVI...; at most {MAX_CLIP_SECONDS:g} s).")],
    top_k: Annotated[int, Form(ge=1, le=100, description="Candidates to list per track.")] = 5,
    every: Annotated[int, Form(ge=1, le=1000, description="Look at one frame in every N.")] = 1,
    max_fps: Annotated[float, Form(gt=0, le=60, description="Look at most this many frames a second.")] = 10.0,
) -> WatchAnswer:
    upload = await read_upload(video)

    def job() -> dict[str, Any]:
        from facerec.serve.limits import check_cancelled
        from facerec.video import Watcher, open_video

        with open_video(upload.data, every=every, max_fps=max_fps, max_seconds=MAX_CLIP_SECONDS,
                        max_pixels=service.settings.max_pixels, name=upload_label(upload)) as clip:
            watcher = Watcher(service.gallery, fps=clip.fps, top_k=top_k)
            tracks = []
            for frame in clip:
                check_cancelled()
                tracks += watcher.feed(frame)
            tracks += watcher.finish()
            return {"video": {"width": clip.width, "height": clip.height, "fps": clip.fps, "frames": clip.decoded,
                              "frames_looked_at": watcher.frames}, "tracks": [t.to_dict() for t in tracks]}

    try:
        answer = await service.queue.run(job)
    except Exception as exc:
        service.audit.record(key.key_id, "watch", None, type(exc).__name__)
        raise
    names = sorted({track["name"] for track in answer["tracks"] if track["name"]})
    service.audit.record(key.key_id, "watch", ", ".join(names) or None,
                         f"{len(answer['tracks'])} tracks, {len(names)} people recognized")
    return WatchAnswer.model_validate(json_safe(answer))


@router.get("/stats", summary="The gallery's size, threshold and whether its index is in step",
            responses=errors(*KEYED))
async def stats(service: ServiceDep, _key: ReadKey) -> StatsAnswer:
    from starlette.concurrency import run_in_threadpool

    def job() -> dict[str, Any]:
        with service.gallery.lock:
            found = service.gallery.store.stats()
            threshold = service.gallery.threshold
            # the calibration identification uses (checked, or recomputed), never the stored row unchecked
            found["open_set"] = service.gallery.calibration().to_dict()
            found["open_set_current"] = service.gallery.open_set.from_store
        shown = {k: v for k, v in found.items() if k in STATS_SHOWN}  # no server path: "backend" names the kind
        return {**shown, "threshold": threshold, "queue": {"admitted": service.queue.admitted,
                                                           "capacity": service.queue.capacity}}

    return StatsAnswer.model_validate(json_safe(await run_in_threadpool(job)))
