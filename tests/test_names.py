"""One name rule (enrollment.names) for the store, the library, the CLI and the web API.

Names are NFC, stripped, 1 to 255 characters; control, format (zero-width, right-to-left override),
surrogate, private-use and unassigned characters, line separators and slashes are refused, with a one-line
message that escapes them. Lookups (remove, rename) normalise the same way.
"""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from enrollment import GalleryError, GalleryStore, NewFace, UnknownIdentityError
from enrollment.names import MAX_NAME, check_name, lookup_name
from tests.conftest import lfw

ACCEPTED = {
    "  Ada Lovelace \t": "Ada Lovelace",
    "Jose\u0301": "Jos\u00e9",  # decomposed: stored composed (NFC)
    "O'Brien \"Bob\"": "O'Brien \"Bob\"",
    "李小龍": "李小龍",
    "Zoë-Ann 🙂": "Zoë-Ann 🙂",
    "x" * MAX_NAME: "x" * MAX_NAME,
    "e\u0301" * MAX_NAME: "\u00e9" * MAX_NAME,  # 510 code points as given, 255 once composed
}

REFUSED = {
    "ansi escape": ("Evil\x1b[31mRed", "control"),
    "newline": ("new\nline", "control"),
    "tab": ("tab\there", "control"),
    "nul": ("nul\x00byte", "control"),
    "slash": ("a/b", "slash"),
    "backslash": ("..\\people", "backslash"),
    "right-to-left override": ("Ada\u202eecalevoL", "format"),
    "zero-width space": ("Person\u200bOne", "format"),
    "zero-width joiner": ("Person\u200dOne", "format"),
    "byte order mark": ("\ufeffAda", "format"),
    "soft hyphen": ("Love\u00adlace", "format"),
    "line separator": ("Ada\u2028Lovelace", "line separator"),
    "private use": ("Ada\ue000", "private-use"),
    "lone surrogate": ("caf\udce9", "surrogate"),
    "empty": ("", "1 to 255"),
    "only spaces": ("   \t ", "1 to 255"),
    "256 characters": ("x" * (MAX_NAME + 1), "1 to 255"),
    "10,000 characters": ("y" * 10_000, "1 to 255"),
}


@pytest.mark.parametrize("given", list(ACCEPTED))
def test_accepted_names_are_stored_nfc_and_stripped(given):
    assert check_name(given) == ACCEPTED[given]
    assert lookup_name(given) == ACCEPTED[given]


@pytest.mark.parametrize("kind", list(REFUSED))
def test_refused_names_get_one_clean_line(kind):
    name, expect = REFUSED[kind]
    with pytest.raises(GalleryError) as info:
        check_name(name)
    message = str(info.value)
    assert expect in message, message
    assert message.isprintable(), repr(message)  # one line, and no escape sequence reaches a terminal
    assert len(message) < 300, len(message)


@pytest.mark.parametrize("value", [None, b"Ada", 42, ["Ada"]])
def test_a_name_must_be_text(value):
    with pytest.raises(GalleryError, match="must be text"):
        check_name(value)
    with pytest.raises(UnknownIdentityError):
        lookup_name(value)


def _face(seed: int) -> NewFace:
    vector = np.random.default_rng(seed).standard_normal(4).astype(np.float32)
    return NewFace(vector / np.linalg.norm(vector), f"{seed:064d}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_store_refuses_bad_names_and_changes_nothing(tmp_path):
    db = tmp_path / "g.db"
    store = GalleryStore(f"sqlite:///{db}", model="m:1", dim=4)
    store.enroll("Person One", [_face(1)])
    store.close()
    before = _sha256(db)
    store = GalleryStore(f"sqlite:///{db}", model="m:1", dim=4)
    for name, _ in REFUSED.values():
        with pytest.raises(GalleryError):
            store.enroll(name, [_face(2)])
        with pytest.raises(GalleryError):
            store.enroll_many([("Someone", _face(3)), (name, _face(2))])
        with pytest.raises(GalleryError):
            store.rename("Person One", name)
    assert [s.name for s in store.identities()] == ["Person One"]  # no second, invisible "Person One"
    store.close()
    assert _sha256(db) == before


def test_lookups_normalise_as_enrollment_does(tmp_path):
    store = GalleryStore(f"sqlite:///{tmp_path / 'g.db'}", model="m:1", dim=4)
    decomposed, composed = "Jose\u0301 Ruiz", "Jos\u00e9 Ruiz"
    assert unicodedata.normalize("NFC", decomposed) == composed != decomposed
    assert store.enroll(decomposed, [_face(1)]).name == composed
    store.rename(f"  {decomposed} ", "Ana\u0308")  # found by its decomposed, padded spelling
    assert [s.name for s in store.identities()] == ["An\u00e4"]
    ids, _, _ = store.remove(" An\u00e4\n")
    assert len(ids) == 1 and store.identities() == []
    with pytest.raises(UnknownIdentityError):
        store.remove("caf\udce9")  # a name that cannot be stored cannot be found: no encoding traceback
    store.close()


def test_the_library_checks_the_name_first_and_finds_the_same_person(tmp_path, recognizer):
    from facerec import Gallery

    gallery = Gallery(recognizer, db=tmp_path / "g.db")
    gallery.enroll("Amber Tamblyn", [lfw("Amber_Tamblyn")])
    before = _sha256(tmp_path / "g.db")
    with pytest.raises(GalleryError, match="format"):
        gallery.enroll("Amber\u200bTamblyn", [lfw("Amber_Tamblyn", 2)], allow_duplicate=True)
    assert _sha256(tmp_path / "g.db") == before
    # A padded spelling of the same name is the same person, not a "duplicate" of them.
    result = gallery.enroll(" Amber Tamblyn ", [lfw("Amber_Tamblyn", 2)])
    assert result.name == "Amber Tamblyn" and len(result.added_ids) == 1
    assert gallery.names() == ["Amber Tamblyn"]
    gallery.close()


def test_the_api_uses_the_same_rule(recognizer, tmp_path, one_torch_thread):
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from facerec.serve import routes_people, service
    from tests.serve_helpers import running_server

    assert routes_people.check_name is check_name and service.check_name is check_name
    photo = ("images", ("a.jpg", lfw("Amber_Tamblyn").read_bytes(), "image/jpeg"))
    with running_server(recognizer, tmp_path) as server, server.client("enroll") as client:
        for kind in ("ansi escape", "zero-width space", "right-to-left override", "256 characters", "tab"):
            answer = client.post("/v1/people", data={"name": REFUSED[kind][0]}, files=[photo])
            assert answer.status_code == 400 and REFUSED[kind][1] in answer.json()["detail"], (kind, answer.text)
        answer = client.post("/v1/people", data={"name": "Jose\u0301"}, files=[photo])
        assert answer.status_code == 201 and answer.json()["name"] == "Jos\u00e9", answer.text
        # 256 decomposed code points are 128 characters once composed: the API counts as the library does
        renamed = client.patch("/v1/people/Jose\u0301", json={"name": "a\u0308" * 128})
        assert renamed.status_code == 200, renamed.text
        assert client.get("/v1/people").json()["people"][0]["name"] == "\u00e4" * 128
        assert client.delete("/v1/people/" + "\u00e4" * 128).status_code == 200
