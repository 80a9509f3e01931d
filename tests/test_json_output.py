"""With --json, a script needs one parser: the answer is strict JSON on stdout, and an error is one JSON object
on stderr, ``{"error": <class>, "detail": <one line>}`` (the HTTP API's shape, as docs/reference/json.md shows it),
with the same non-zero exit as the plain error."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from facerec.cli import main
from tests.conftest import ROOT, lfw


def strict(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    db = tmp_path_factory.mktemp("json") / "g.db"
    assert run("enroll", "Abel", lfw("Abel_Pacheco"), "--db", db, "-q").exit_code == 0
    return db


def documented_error() -> dict:
    """The error object that docs/reference/json.md shows in its "Errors" section (its JSON example)."""
    text = (ROOT / "docs" / "reference" / "json.md").read_text()
    section = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    example = json.loads(re.search(r"```json\n(.*?)\n```", section, re.S).group(1))
    assert isinstance(example, dict) and example, "json.md's Errors section has no JSON example"
    return example


def has_documented_shape(error: object, example: dict) -> bool:
    """Whether ``error`` has the example's keys, no other, each a non-empty value of the example's type."""
    return (isinstance(error, dict) and set(error) == set(example)
            and all(type(error[key]) is type(value) and error[key] for key, value in example.items()))


def failing_commands(gallery, tmp_path, no_face_photo):
    missing = tmp_path / "missing.jpg"
    return {
        "verify-missing-file": (["verify", missing, lfw("Abel_Pacheco"), "--json"], 1),
        "verify-nan-threshold": (["verify", lfw("Abel_Pacheco"), lfw("Abel_Pacheco", 2), "--threshold", "nan",
                                  "--json"], 2),
        "enroll-no-face": (["enroll", "Nobody", no_face_photo, "--db", gallery, "--json"], 1),
        "enroll-usage": (["enroll", "Nobody", "--db", gallery, "--json"], 2),
        "identify-no-gallery": (["identify", lfw("Abel_Pacheco", 2), "--db", tmp_path / "none.db", "--json"], 1),
        "identify-no-face": (["identify", no_face_photo, "--db", gallery, "--json"], 1),
        "list-no-gallery": (["list", "--db", tmp_path / "none.db", "--json"], 1),
        "remove-unknown": (["remove", "Nobody", "--db", gallery, "--json"], 1),
        "index-stats-no-gallery": (["index", "stats", "--db", tmp_path / "none.db", "--json"], 1),
        "keys-bad-db": (["keys", "list", "--db", "bogus://x", "--json"], 1),
    }


def test_errors_under_json_are_one_json_object_on_stderr(gallery, tmp_path, no_face_photo):
    for name, (args, code) in failing_commands(gallery, tmp_path, no_face_photo).items():
        result = run(*args)
        assert result.exit_code == code, (name, result.output)
        assert result.stdout == "", (name, result.stdout)
        assert has_documented_shape(strict(result.stderr), documented_error()), (name, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_without_json_errors_stay_one_plain_line(gallery, tmp_path):
    result = run("list", "--db", tmp_path / "none.db")
    assert result.exit_code == 1 and result.stderr.startswith("Error: no gallery at")


def test_error_type_names_the_kind_of_error(gallery, tmp_path, no_face_photo):
    result = run("identify", no_face_photo, "--db", gallery, "--json")
    assert strict(result.stderr)["error"] == "NoFaceError"
    result = run("enroll", "Nobody", "--db", gallery, "--json")
    assert strict(result.stderr)["error"] == "UsageError"


def test_the_http_api_answers_errors_in_the_documented_shape(recognizer, tmp_path, no_face_photo):
    """The same document, the service's side: each way a request can fail (the key check, the form check, an
    unknown route, a facerec error) answers with the object json.md shows."""
    pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")
    from tests.serve_helpers import running_server

    with running_server(recognizer, tmp_path, rate_per_key=0) as server, server.client("enroll") as client:
        photo = ("none.jpg", no_face_photo.read_bytes(), "image/jpeg")
        answers = {
            401: server.client(None).post("/v1/identify"),
            400: client.post("/v1/verify", files={"image_a": ("a.jpg", b"not an image", "image/jpeg"),
                                                  "image_b": ("b.jpg", b"nor this", "image/jpeg")}),
            404: client.delete("/v1/people/Nobody At All"),
            405: client.put("/v1/health"),
            422: client.post("/v1/people", data={"name": "Nobody"}, files=[("images", photo)]),
        }
    example = documented_error()
    for status, answer in answers.items():
        assert answer.status_code == status, (status, answer.text)
        assert has_documented_shape(answer.json(), example), (status, answer.text)
    assert answers[422].json()["error"] == "NoFaceError"


def test_answers_under_json_are_strict_json_on_stdout(gallery):
    for args in (["verify", lfw("Abel_Pacheco"), lfw("Abel_Pacheco", 2), "--json"],
                 ["identify", lfw("Abel_Pacheco", 2), "--db", gallery, "--json"],
                 ["list", "--db", gallery, "--json"], ["index", "stats", "--db", gallery, "--json"],
                 ["models", "--json"]):
        result = run(*args)
        assert result.exit_code == 0, (args, result.output)
        assert isinstance(strict(result.stdout), dict)


def test_one_vocabulary_between_the_cli_and_the_api(gallery):
    """`list --json` has the shape of GET /v1/people, timestamps are ISO 8601 with their offset, -q is
    accepted by identify as by enroll, and no box reads -0."""
    from datetime import datetime

    from facerec.detection import Face

    listed = strict(run("list", "--db", gallery, "--json").stdout)
    assert set(listed) == {"people", "count", "faces"} and listed["count"] == 1 and listed["faces"] == 1
    stamp = datetime.fromisoformat(listed["people"][0]["created_at"])
    assert stamp.utcoffset() is not None and "T" in listed["people"][0]["created_at"]
    assert run("identify", lfw("Abel_Pacheco", 2), "--db", gallery, "-q").exit_code == 0
    face = Face(box=(-0.04, -0.01, 10.0, 12.0), score=0.9, landmarks=((-0.01, 1.0),) * 5, detector="yunet")
    assert "-0" not in json.dumps(face.to_dict())


def test_index_stats_names_the_vector_store_once(gallery):
    stats = strict(run("index", "stats", "--db", gallery, "--json").stdout)
    assert "index_path" not in stats and stats["vectors"].endswith(".faiss")
    text = run("index", "stats", "--db", gallery).stdout
    assert text.count(stats["vectors"]) == 1
