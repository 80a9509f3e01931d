"""What each route answers, as pydantic models: the OpenAPI document (and so ``/docs``) shows every field.

The JSON bodies are the library's ``to_dict()`` shapes, unchanged. Every model allows fields it does not name,
so a field the library adds (a new score, a quality measure) still reaches the client before it is listed here.
Timestamps are ISO 8601 strings; a score that is not a finite number (no one enrolled) is ``null``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Answer", "ErrorAnswer", "errors", "KEYED", "PHOTOS", "Health", "ModelsAnswer", "FaceBox", "VerifiedFace",
    "VerifyAnswer", "Candidate", "Quality", "IdentifiedFace", "ImageSize", "IdentifyAnswer", "QueueState",
    "StatsAnswer", "Enrolled", "Person", "PeopleAnswer", "Renamed", "Removed", "KeyInfo", "NewKeyAnswer",
    "KeysAnswer", "AuditLine", "AuditAnswer", "VideoInfo", "WatchedTrack", "WatchAnswer",
]

Score = float | None


class Answer(BaseModel):
    """A JSON answer; fields beyond those listed may come (see the module's docstring)."""

    model_config = ConfigDict(extra="allow")


class ErrorAnswer(Answer):
    error: str = Field(description="The error's kind: the facerec error class, or Unauthorized, Forbidden, "
                                   "RateLimited, Overloaded, TooLarge, BadRequest, NotFound.")
    detail: str = Field(description="What went wrong, in one line.")


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route that may answer these error statuses (for the OpenAPI document)."""
    return {code: {"model": ErrorAnswer, "description": _WHY[code]} for code in sorted(set(codes))}


_WHY = {400: "A bad request: an unreadable photo, a bad name or form field, an unknown key id.",
        401: "No API key, or a wrong or revoked one.", 403: "The key's role does not allow this route.",
        404: "No one of that name is enrolled.", 409: "The name or the face is already enrolled.",
        413: "The request or the photo is too large.", 422: "No face, or several faces where one is required.",
        429: "Over the key's rate (see Retry-After).", 503: "The service is busy or timed out (see Retry-After)."}
#: What any keyed route may answer, and what a route that reads photos may answer besides.
KEYED = (401, 403, 429)
PHOTOS = (400, 413, 422, 503)


class Health(Answer):
    status: Literal["ok"]
    version: str


class ModelsAnswer(Answer):
    model: str = Field(description="The embedding model in use.")
    embedding_size: int
    verify_threshold: float = Field(description="The score at or above which /v1/verify says same person at its "
                                                "default FAR (0.1%).")
    verify_decision: str = Field(description="Which score verify compares and how its threshold was calibrated.")
    identify_threshold: float = Field(description="The gallery's open-set threshold now.")
    detector: str
    backend: str
    precision: str
    models: list[str] = Field(description="The embedding models known.")
    detectors: list[str] = Field(description="The face detectors known.")


class FaceBox(Answer):
    box: list[float] = Field(description="x1, y1, x2, y2 in the photo's own pixels.")
    score: float = Field(description="The detector's confidence.")
    landmarks: list[list[float]] = Field(description="Five (x, y) points: eyes, nose, mouth corners.")
    detector: str


class VerifiedFace(FaceBox):
    faces_found: int = Field(description="Faces found in that photo (the largest is compared).")


class VerifyAnswer(Answer):
    model: str
    similarity: Score = Field(description="The cosine of the two faces' embeddings.")
    score: float = Field(description="The decision score compared with the threshold (as-norm, or the cosine).")
    score_kind: str = Field(description='"as-norm" (cohort-normalised, calibrated) or "cosine".')
    threshold: float
    far: float | None = Field(description="The false-accept rate the threshold keeps (null: a fixed threshold).")
    decision: str = Field(description="Which score is compared and how its threshold was calibrated.")
    same_person: bool
    face_a: VerifiedFace
    face_b: VerifiedFace


class Candidate(Answer):
    name: str
    score: Score = Field(description="The decision score (cohort-normalised where the gallery normalises).")
    raw_score: Score = Field(description="The cosine.")


class Quality(Answer):
    score: float = Field(description="0 (unusable) to 1 (good).")
    low: bool
    reasons: list[str]
    parts: dict[str, float]
    measures: dict[str, float]


class IdentifiedFace(Answer):
    name: str | None = Field(description="Who it is, or null when not recognized.")
    recognized: bool
    score: Score = Field(description="The decision score, compared with threshold; null when no one is enrolled.")
    threshold: float
    score_kind: str = Field(description='"cosine", or "as-norm" where the gallery normalises scores.')
    raw_score: Score = Field(description="The best candidate's cosine.")
    normalized_score: Score = Field(None, description="The normalised score, where the gallery normalises.")
    reason: str | None = Field(None, description="Why not recognized (null when recognized).")
    quality: Quality | None = None
    face: FaceBox
    candidates: list[Candidate] = Field(description="The top-k people, best first.")


class ImageSize(Answer):
    width: int
    height: int


class IdentifyAnswer(Answer):
    image: ImageSize = Field(description="The photo's own size: the frame of the boxes.")
    threshold: float
    faces: list[IdentifiedFace] = Field(description="The largest face, or every face, largest first.")
    decision: str = Field(description="Which score is compared and how its threshold was calibrated.")


class QueueState(Answer):
    admitted: int
    capacity: int


class StatsAnswer(Answer):
    model: str
    dim: int
    backend: str
    index_kind: str
    identities: int
    faces: int
    indexed: int = Field(description="Vectors in the index.")
    revision: int
    in_step: bool = Field(description="Whether the index holds what the database holds.")
    open_set: dict[str, Any] | None = Field(description="How the open-set threshold was chosen.")
    open_set_current: bool
    threshold: float
    queue: QueueState


class Enrolled(Answer):
    name: str
    faces_added: int
    already_enrolled: int = Field(description="Photos whose face was already enrolled under this name.")


class Person(Answer):
    name: str
    faces: int
    created_at: str


class PeopleAnswer(Answer):
    people: list[Person]
    count: int
    faces: int


class Renamed(Answer):
    renamed: str
    to: str


class Removed(Answer):
    removed: str
    faces_removed: int


class KeyInfo(Answer):
    key_id: str
    role: str
    label: str
    active: bool
    created_at: str
    revoked_at: str | None


class NewKeyAnswer(KeyInfo):
    key: str = Field(description="The secret, shown in this answer only.")


class KeysAnswer(Answer):
    keys: list[KeyInfo]


class AuditLine(Answer):
    key_id: str
    action: str
    person: str | None
    outcome: str
    at: str


class AuditAnswer(Answer):
    audit: list[AuditLine]


class VideoInfo(Answer):
    width: int
    height: int
    fps: float = Field(description="The clip's frame rate.")
    frames: int = Field(description="Frames decoded.")
    frames_looked_at: int = Field(description="Frames detected and tracked (after every and max_fps).")


class WatchedTrack(Answer):
    track: int = Field(description="The track's number in this clip.")
    name: str | None = Field(description="Who it is, or null when not recognized.")
    recognized: bool
    score: Score = Field(description="The decision score of the track's mean embedding, compared with threshold.")
    threshold: float
    score_kind: str
    raw_score: Score = Field(description="The best candidate's cosine.")
    reason: str | None = Field(None, description="Why not recognized (null when recognized).")
    first_time: float = Field(description="Seconds from the clip's start when the face was first seen.")
    last_time: float = Field(description="... and last seen.")
    first_frame: int
    last_frame: int
    frames: int = Field(description="Frames the face was seen in (of those looked at).")
    embedded: int = Field(description="Its best frames, whose mean embedding was identified.")
    quality: Quality | None = None
    face: FaceBox = Field(description="The face of its best frame, in the frame's pixels.")
    candidates: list[Candidate] = Field(description="The top-k people, best first.")


class WatchAnswer(Answer):
    video: VideoInfo
    tracks: list[WatchedTrack] = Field(description="One per face followed through the clip, by when it ended.")
