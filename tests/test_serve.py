"""`facerec serve` over real HTTP: a server on a free loopback port, real LFW photos, a real SQLite gallery."""

from __future__ import annotations

import functools
import io
import sqlite3
import threading

import pytest
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")

from facerec.cli import main  # noqa: E402
from tests.conftest import lfw  # noqa: E402
from tests.serve_helpers import running_server  # noqa: E402

ENROLLED = ("Abel_Pacheco", "Adam_Sandler", "Alec_Baldwin")


@pytest.fixture(scope="module")
def server(recognizer, tmp_path_factory, one_torch_thread):
    with running_server(recognizer, tmp_path_factory.mktemp("serve"), max_upload_bytes=2_000_000,
                        max_pixels=4_000_000, rate_per_key=0) as running:
        with running.client("enroll") as client:
            for name in ENROLLED:
                answer = client.post("/v1/people", data={"name": name}, files=photos(name, 1, 2))
                assert answer.status_code == 201, answer.text
        yield running


def photos(name: str, *numbers: int, field: str = "images") -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(field, (f"{name}_{n}.jpg", lfw(name, n).read_bytes(), "image/jpeg")) for n in numbers]


def photo(name: str, number: int) -> tuple[str, bytes, str]:
    return (f"{name}_{number}.jpg", lfw(name, number).read_bytes(), "image/jpeg")


def snapshot(server) -> tuple:  # noqa: ANN001
    """Everything a bad request must leave as it was: people, faces, revision, index size, keys."""
    with sqlite3.connect(server.db) as db:
        people = sorted(db.execute("select name, (select count(*) from faces f where f.identity_id = i.id) "
                                   "from identities i"))
        revision = db.execute("select revision from gallery_info").fetchone()
        keys = sorted(db.execute("select key_id, revoked_at from api_keys"))
    return people, revision, keys, len(server.gallery.store.index)


def identify(client, name: str, number: int) -> dict:  # noqa: ANN001
    answer = client.post("/v1/identify", files={"image": photo(name, number)})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_health_docs_and_page_need_no_key(server):
    with server.client(None) as client:
        assert client.get("/v1/health").json()["status"] == "ok"
        schema = client.get("/openapi.json").json()
        assert {"/v1/identify", "/v1/verify", "/v1/people", "/v1/people/{name}", "/v1/stats", "/v1/models",
                "/v1/keys"} <= set(schema["paths"])
        assert client.get("/docs").status_code == 200
        page = client.get("/")
        assert page.status_code == 200 and "facerec" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert client.get("/static/app.js").status_code == 200


def test_identify_verify_models_stats_and_list_on_real_photos(server):
    with server.client("read") as client:
        for name in ENROLLED:
            [face] = identify(client, name, 3)["faces"]
            assert face["name"] == name and face["score"] >= face["threshold"]
            assert face["candidates"][0]["name"] == name
        same = client.post("/v1/verify", files={"image_a": photo("Abel_Pacheco", 3),
                                                "image_b": photo("Abel_Pacheco", 4)}).json()
        other = client.post("/v1/verify", files={"image_a": photo("Abel_Pacheco", 3),
                                                 "image_b": photo("Adam_Sandler", 3)}).json()
        assert same["same_person"] and not other["same_person"]
        assert client.get("/v1/models").json()["model"] == server.gallery.recognizer.model_key
        stats = client.get("/v1/stats").json()
        assert stats["identities"] >= 3 and stats["in_step"] and "index_path" not in stats
        listed = {p["name"]: p["faces"] for p in client.get("/v1/people").json()["people"]}
        assert all(listed[name] == 2 for name in ENROLLED)


def test_identify_all_faces_and_top_k(server, two_faces_photo):
    with server.client("read") as client:
        answer = client.post("/v1/identify", data={"all_faces": "true", "top_k": "2"},
                             files={"image": ("group.jpg", two_faces_photo.read_bytes(), "image/jpeg")}).json()
        assert [face["name"] for face in answer["faces"]][0] == "Abel_Pacheco"
        assert len(answer["faces"]) == 2 and all(len(face["candidates"]) <= 2 for face in answer["faces"])


def test_enroll_rename_remove_and_the_removed_person_is_not_identifiable(server):
    with server.client("enroll") as client:
        added = client.post("/v1/people", data={"name": "Ana Guevara"}, files=photos("Ana_Guevara", 1, 2, 3))
        assert added.status_code == 201 and added.json()["faces_added"] == 3
        again = client.post("/v1/people", data={"name": "Ana Guevara"}, files=photos("Ana_Guevara", 1))
        assert again.status_code == 200 and again.json()["already_enrolled"] == 1
        assert identify(client, "Ana_Guevara", 5)["faces"][0]["name"] == "Ana Guevara"
        renamed = client.patch("/v1/people/Ana Guevara", json={"name": "Ana G."})
        assert renamed.status_code == 200 and renamed.json() == {"renamed": "Ana Guevara", "to": "Ana G."}
        assert identify(client, "Ana_Guevara", 5)["faces"][0]["name"] == "Ana G."
        removed = client.delete("/v1/people/Ana G.")
        assert removed.status_code == 200 and removed.json()["faces_removed"] == 3
        [face] = identify(client, "Ana_Guevara", 5)["faces"]
        assert face["name"] is None and "Ana G." not in [c["name"] for c in face["candidates"]]
        assert client.delete("/v1/people/Ana G.").status_code == 404
    with sqlite3.connect(server.db) as db:  # gone from the database and the index at once
        assert db.execute("select count(*) from identities where name like 'Ana%'").fetchone() == (0,)
    assert server.gallery.store.stats()["in_step"]


PROTECTED = [("get", "/v1/models", "read"), ("get", "/v1/people", "read"), ("get", "/v1/stats", "read"),
             ("post", "/v1/identify", "read"), ("post", "/v1/verify", "read"), ("post", "/v1/people", "enroll"),
             ("patch", "/v1/people/Abel_Pacheco", "enroll"), ("delete", "/v1/people/Abel_Pacheco", "enroll"),
             ("get", "/v1/keys", "admin"), ("post", "/v1/keys", "admin"), ("get", "/v1/audit", "admin")]


def _send(client, method: str, path: str):  # noqa: ANN001, ANN202
    if method == "post" and path == "/v1/people":
        return client.post(path, data={"name": "Intruder"}, files=photos("Amelia_Vega", 1))
    if method == "post" and path == "/v1/keys":
        return client.post(path, json={"role": "admin"})
    if method == "post":
        return client.post(path, files={"image": photo("Abel_Pacheco", 3), "image_a": photo("Abel_Pacheco", 3),
                                        "image_b": photo("Abel_Pacheco", 4)})
    if method == "patch":
        return client.patch(path, json={"name": "Renamed"})
    return client.request(method.upper(), path)


@pytest.mark.parametrize("method,path,role", PROTECTED)
def test_no_key_a_wrong_key_or_a_low_role_is_refused_and_changes_nothing(server, method, path, role):
    before = snapshot(server)
    wrong = server.keys["admin"][:-4] + "AAAA"
    for headers in ({}, {"X-API-Key": wrong}, {"X-API-Key": "frk_nonsense"}, {"Authorization": "Bearer " + wrong}):
        with server.client(None, **headers) as client:
            answer = _send(client, method, path)
            assert answer.status_code == 401, (headers, answer.text)
    lower = {"read": [], "enroll": ["read"], "admin": ["read", "enroll"]}[role]
    for low in lower:
        with server.client(low) as client:
            answer = _send(client, method, path)
            assert answer.status_code == 403 and answer.json()["error"] == "Forbidden", answer.text
    assert snapshot(server) == before


def test_bearer_header_and_revoked_keys(server):
    with server.client(None, Authorization=f"Bearer {server.keys['read']}") as client:
        assert client.get("/v1/people").status_code == 200
    with server.client("admin") as admin:
        created = admin.post("/v1/keys", json={"role": "read", "label": "kiosk"})
        assert created.status_code == 201
        secret, key_id = created.json()["key"], created.json()["key_id"]
        with server.client(None, **{"X-API-Key": secret}) as kiosk:
            assert kiosk.get("/v1/people").status_code == 200
            assert admin.delete(f"/v1/keys/{key_id}").json()["active"] is False
            assert kiosk.get("/v1/people").status_code == 401
        listed = admin.get("/v1/keys").json()["keys"]
        assert key_id in [k["key_id"] for k in listed] and all("key" not in k for k in listed)
    with sqlite3.connect(server.db) as db:  # only hashes are stored
        stored = " ".join(str(v) for row in db.execute("select * from api_keys") for v in row)
    assert secret.split("_", 2)[2] not in stored and server.keys["admin"].split("_", 2)[2] not in stored


@functools.lru_cache(maxsize=None)
def _bomb() -> bytes:
    """A PNG of 36 million pixels (over the server's 4-million limit) in a few kB."""
    buffer = io.BytesIO()
    Image.new("1", (6_000, 6_000)).save(buffer, "PNG")
    return buffer.getvalue()


def _bad_uploads(no_face_photo):  # noqa: ANN001, ANN202
    jpeg = lfw("Amelia_Vega", 1).read_bytes()
    return {
        "non-image": (400, "ImageReadError", ("notes.jpg", b"this is not a photo", "image/jpeg")),
        "truncated": (400, "ImageReadError", ("cut.jpg", jpeg[: len(jpeg) // 3], "image/jpeg")),
        "empty file": (400, "ImageReadError", ("empty.jpg", b"", "image/jpeg")),
        "decompression bomb": (413, "ImageTooLargeError", ("bomb.png", _bomb(), "image/png")),
        "oversize": (413, "TooLarge", ("big.jpg", jpeg + b"\0" * 2_100_000, "image/jpeg")),
        "no face": (422, "NoFaceError", ("digit.png", no_face_photo.read_bytes(), "image/png")),
    }


@pytest.mark.parametrize("case", ["non-image", "truncated", "empty file", "decompression bomb", "oversize", "no face"])
def test_bad_photos_are_answered_with_their_status_and_change_nothing(server, no_face_photo, case):
    status, error, upload = _bad_uploads(no_face_photo)[case]
    assert len(_bomb()) < 100_000  # the bomb is small on the wire
    before = snapshot(server)
    with server.client("enroll") as client:
        for answer in (client.post("/v1/people", data={"name": "Amelia Vega"}, files=[("images", upload)]),
                       client.post("/v1/people", data={"name": "Amelia Vega"},
                                   files=[*photos("Amelia_Vega", 2), ("images", upload)]),
                       client.post("/v1/identify", files={"image": upload}),
                       client.post("/v1/verify", files={"image_a": upload, "image_b": photo("Abel_Pacheco", 3)})):
            assert answer.status_code == status, (case, answer.text)
            assert answer.json()["error"] == error
    assert snapshot(server) == before


@pytest.mark.parametrize("name", ["a/b", "..\\people", "tab\there", "new\nline", "   ", "x" * 256])
def test_names_with_slashes_or_control_characters_are_refused(server, name):
    before = snapshot(server)
    with server.client("enroll") as client:
        answer = client.post("/v1/people", data={"name": name}, files=photos("Amelia_Vega", 1))
        assert answer.status_code == 400, answer.text
        renamed = client.patch("/v1/people/Abel_Pacheco", json={"name": name})
        assert renamed.status_code == 400, renamed.text
    assert snapshot(server) == before


def test_other_bad_requests_change_nothing(server):
    before = snapshot(server)
    with server.client("enroll") as client:
        cases = {
            "empty multipart": client.post("/v1/people", files={}, data={}),
            "no photo": client.post("/v1/people", data={"name": "Nobody"}),
            "identify without photo": client.post("/v1/identify"),
            "bad top_k": client.post("/v1/identify", data={"top_k": "0"}, files={"image": photo("Abel_Pacheco", 3)}),
            "unknown person": client.delete("/v1/people/Nobody At All"),
            "rename unknown": client.patch("/v1/people/Nobody At All", json={"name": "Somebody"}),
            "rename onto another": client.patch("/v1/people/Abel_Pacheco", json={"name": "Adam_Sandler"}),
            "same face, other name": client.post("/v1/people", data={"name": "Abel Two"},
                                                 files=photos("Abel_Pacheco", 1)),
        }
        expected = {"empty multipart": 400, "no photo": 400, "identify without photo": 400, "bad top_k": 400,
                    "unknown person": 404, "rename unknown": 404, "rename onto another": 409,
                    "same face, other name": 409}
        assert {case: answer.status_code for case, answer in cases.items()} == expected
        assert all(set(answer.json()) == {"error", "detail"} for answer in cases.values())
    assert snapshot(server) == before


@pytest.mark.parametrize("name", ["O'Brien \"Bob\"", "Robert'); DROP TABLE identities;--", "1 OR 1=1; --"])
def test_quotes_and_sql_text_are_stored_verbatim(server, name):
    people_before = snapshot(server)[0]
    with server.client("enroll") as client:
        answer = client.post("/v1/people", data={"name": name}, files=photos("Anders_Fogh_Rasmussen", 1))
        assert answer.status_code == 201 and answer.json()["name"] == name
        names = [p["name"] for p in client.get("/v1/people").json()["people"]]
        assert name in names and set(dict(people_before)) <= set(names)
        assert identify(client, "Anders_Fogh_Rasmussen", 2)["faces"][0]["name"] == name
        from urllib.parse import quote

        assert client.delete(f"/v1/people/{quote(name, safe='')}").status_code == 200
    assert snapshot(server)[0] == people_before


def test_audit_log_says_who_did_what_to_whom_without_images(server):
    with server.client("enroll") as client:
        client.post("/v1/people", data={"name": "Audit Person"}, files=photos("Albert_Costa", 1))
        identify(client, "Albert_Costa", 2)
        client.delete("/v1/people/Audit Person")
    enroll_id = server.keys["enroll"].split("_")[1]
    with server.client("admin") as admin:
        lines = admin.get("/v1/audit", params={"limit": 50}).json()["audit"]
    mine = [(a["action"], a["person"]) for a in lines if a["key_id"] == enroll_id]
    assert {("enroll", "Audit Person"), ("identify", "Audit Person"), ("remove", "Audit Person")} <= set(mine)
    with sqlite3.connect(server.db) as db:
        columns = [row[1] for row in db.execute("pragma table_info(audit_log)")]
    assert columns == ["id", "at", "key_id", "action", "person", "outcome"]


def test_rate_limit_and_a_full_queue_are_answered_429_and_503(recognizer, tmp_path):
    with running_server(recognizer, tmp_path, rate_per_key=1, burst_per_key=2, concurrency=1, queue_size=1) as busy:
        with busy.client("read") as client:
            codes = [client.get("/v1/people").status_code for _ in range(4)]
            assert codes[:2] == [200, 200] and 429 in codes[2:]
            assert int(client.get("/v1/people").headers["retry-after"]) >= 1
        busy_keys = [busy.client("admin"), busy.client("enroll"), busy.client("read")]
        answers: list = []

        def hit(client) -> None:  # noqa: ANN001
            answers.append(client.post("/v1/identify", files={"image": photo("Abel_Pacheco", 3)}))

        import time

        time.sleep(2.5)  # let the read key's bucket refill
        threads = [threading.Thread(target=hit, args=(c,)) for c in busy_keys for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        codes = sorted(a.status_code for a in answers)
        assert 200 in codes and 503 in codes and set(codes) <= {200, 429, 503}, codes
        assert all(int(a.headers["retry-after"]) >= 1 for a in answers if a.status_code == 503)
        for client in busy_keys:
            client.close()


def test_keys_cli_creates_lists_and_revokes(tmp_path):
    db = str(tmp_path / "keys.db")
    runner = CliRunner()
    created = runner.invoke(main, ["keys", "create", "--role", "enroll", "--label", "door", "--db", db, "--json"])
    assert created.exit_code == 0, created.output
    import json

    key = json.loads(created.stdout)
    assert key["key"].startswith(f"frk_{key['key_id']}_")
    listed = runner.invoke(main, ["keys", "list", "--db", db])
    assert key["key_id"] in listed.output and "door" in listed.output and key["key"] not in listed.output
    assert runner.invoke(main, ["keys", "revoke", key["key_id"], "--db", db]).exit_code == 0
    assert "revoked" in runner.invoke(main, ["keys", "list", "--db", db]).output
    unknown = runner.invoke(main, ["keys", "revoke", "000000000000", "--db", db])
    assert unknown.exit_code != 0 and "no key" in unknown.output
    bad_role = runner.invoke(main, ["keys", "create", "--role", "root", "--db", db])
    assert bad_role.exit_code != 0


def test_a_streamed_body_over_the_limit_is_cut_off_with_413(server):
    before = snapshot(server)

    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        yield b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.jpg\"\r\n\r\n"
        for _ in range(40):
            yield b"\xff" * 100_000

    with server.client("enroll") as client:
        answer = client.post("/v1/identify", content=chunks(),
                             headers={"content-type": "multipart/form-data; boundary=b"})
    assert answer.status_code == 413 and answer.json()["error"] == "TooLarge", answer.text
    assert snapshot(server) == before


def test_timeout_drops_a_read_but_finishes_a_started_enrollment(recognizer, tmp_path):
    with running_server(recognizer, tmp_path, timeout_s=0.001, concurrency=1, queue_size=1) as slow:
        with slow.client("enroll") as client:
            late = client.post("/v1/identify", files={"image": photo("Abel_Pacheco", 3)})
            assert late.status_code == 503 and "retry-after" in late.headers, late.text
            enrolled = client.post("/v1/people", data={"name": "Abel"}, files=photos("Abel_Pacheco", 1))
            assert enrolled.status_code in (201, 503), enrolled.text
            listed = [p["name"] for p in client.get("/v1/people").json()["people"]]
            assert listed == (["Abel"] if enrolled.status_code == 201 else [])


def test_verify_errors_name_the_upload_not_the_decoded_array(server, no_face_photo, two_faces_photo):
    digit = ("digit.png", no_face_photo.read_bytes(), "image/png")
    group = ("group.jpg", two_faces_photo.read_bytes(), "image/jpeg")
    with server.client("read") as client:
        for files, data, error, named in (
            ({"image_a": digit, "image_b": photo("Abel_Pacheco", 3)}, {}, "NoFaceError", "digit.png"),
            ({"image_a": photo("Abel_Pacheco", 3), "image_b": digit}, {}, "NoFaceError", "digit.png"),
            ({"image_a": photo("Abel_Pacheco", 3), "image_b": group}, {"require_single": "true"},
             "MultipleFacesError", "group.jpg"),
        ):
            answer = client.post("/v1/verify", files=files, data=data)
            assert answer.status_code == 422 and answer.json()["error"] == error, answer.text
            detail = answer.json()["detail"]
            assert f"upload '{named}'" in detail and "<" not in detail, detail


def test_openapi_says_what_every_route_answers_and_docs_need_no_internet(server):
    with server.client(None) as client:
        schema = client.get("/openapi.json").json()
        components = schema["components"]["schemas"]
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                [(status, ok)] = [(s, r) for s, r in operation["responses"].items() if s.startswith("2")][:1]
                ref = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                assert components[ref]["properties"], (method, path)  # a typed answer, not an empty object
                errors = [s for s in operation["responses"] if not s.startswith("2")]
                assert path == "/v1/health" or {"401", "403"} <= set(errors), (method, path)
                assert all(operation["responses"][s]["content"]["application/json"]["schema"]["$ref"].endswith(
                    "/ErrorAnswer") for s in errors), (method, path)  # FastAPI's 422 "Validation Error" is not ours
        face = components["IdentifiedFace"]["properties"]
        assert {"name", "score", "threshold", "candidates", "face"} <= set(face)
        html = client.get("/docs").text
        assert "http" not in html, html  # nothing from a CDN
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
            assert f'"/docs-assets/{asset}"' in html
            answer = client.get(f"/docs-assets/{asset}")
            assert answer.status_code == 200 and len(answer.content) > 10_000
        assert client.get("/redoc").status_code == 404  # its page would load a logo from the internet


def test_kept_photos_are_named_by_their_content_not_the_clients_file_name(recognizer, tmp_path):
    import hashlib

    folder = tmp_path / "kept"
    jpeg = lfw("Abel_Pacheco", 1).read_bytes()
    png = io.BytesIO()
    Image.open(lfw("Abel_Pacheco", 2)).save(png, format="PNG")
    with running_server(recognizer, tmp_path, keep_photos=str(folder), rate_per_key=0) as kept:
        with kept.client("enroll") as client:
            answer = client.post("/v1/people", data={"name": "Amelie"},
                                 files=[("images", ("shell.php", jpeg, "image/jpeg")),
                                        ("images", ("run.SH", png.getvalue(), "application/x-sh"))])
            assert answer.status_code == 201, answer.text
    names = sorted(path.name for path in folder.iterdir())
    assert names == sorted([hashlib.sha256(jpeg).hexdigest() + ".jpg",
                            hashlib.sha256(png.getvalue()).hexdigest() + ".png"]), names
