"""The bad-input corpus: verify, enroll and identify (CLI and library) over 28 kinds of bad input.

For each: a non-zero exit (or a FaceRecError), no traceback, a message that names the input and the
problem, and the gallery byte-for-byte unchanged (database rows and index file). Every odd but valid
format (16-bit, CMYK, palette, LA, RGBA, EXIF-rotated, GIF, TIFF, WebP) is made from a picture with no
face in it, so it exercises the decoder and still has to end in a clear "no face" message.

Then the other inputs a user gets wrong: names the one name rule refuses (escape sequences, newlines, slashes,
invisible characters, over 255 characters), thresholds that are not finite, top_k out of range, file
names that are not UTF-8 (made with bytes names), and --db targets that are no gallery (a folder, a text
file, a photo, a bogus URL) for every command that reads the gallery or its API keys.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facerec import FaceRecError, FaceRecognizer, Gallery
from facerec.cli import main
from tests.conftest import lfw

#: Detectors the library part runs with (the default cascade, and each registered detector).
DETECTORS = ["yunet,retinaface", "mtcnn", "yunet", "retinaface"]


def _gradient(width: int = 160, height: int = 120) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], -1).astype(np.uint8))


def _files(root: Path) -> dict[str, tuple[Path, str]]:
    """Kind -> (path, a word the message must contain)."""
    root.mkdir(parents=True, exist_ok=True)
    photo = lfw("Abel_Pacheco").read_bytes()
    made: dict[str, tuple[Path, str]] = {}

    def add(kind: str, name: str, data: bytes | None, expect: str) -> None:
        path = root / name
        if data is not None:
            path.write_bytes(data)
        made[kind] = (path, expect)

    def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **options)
        return buffer.getvalue()

    gradient = _gradient()
    add("text", "notes.jpg", b"this is not a photo\n", "not an image")
    add("empty", "empty.jpg", b"", "empty")
    add("truncated-jpeg", "cut.jpg", photo[: len(photo) // 3], "truncated")
    add("truncated-png", "cut.png", encode(Image.open(lfw("Abel_Pacheco")), "PNG")[:2000], "truncated")
    add("bomb", "bomb.png", encode(Image.new("1", (30000, 30000)), "PNG"), "exceeds")
    huge = Image.open(lfw("Abel_Pacheco")).resize((8200, 6200))
    add("huge", "huge.jpg", encode(huge, "JPEG", quality=30), "exceeds")
    add("16-bit", "deep.png", encode(Image.fromarray((np.asarray(gradient.convert("L"), np.uint16) * 257)), "PNG"),
        "no face")
    add("cmyk", "cmyk.jpg", encode(gradient.convert("CMYK"), "JPEG"), "no face")
    add("palette", "palette.png", encode(gradient.convert("P"), "PNG"), "no face")
    add("la", "la.png", encode(gradient.convert("LA"), "PNG"), "no face")
    rgba = gradient.convert("RGBA")
    rgba.putalpha(64)
    add("rgba", "rgba.png", encode(rgba, "PNG"), "no face")
    exif = Image.Exif()
    exif[0x0112] = 6
    add("exif-rotated", "rotated.jpg", encode(gradient, "JPEG", exif=exif.tobytes()), "no face")
    frames = [gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    add("animated-gif", "anim.gif", encode(frames[0], "GIF", save_all=True, append_images=frames[1:]), "no face")
    add("multipage-tiff", "pages.tiff", encode(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "no face")
    add("webp", "picture.webp", encode(gradient, "WEBP"), "no face")
    (root / "a folder.jpg").mkdir(exist_ok=True)
    add("directory", "a folder.jpg", None, "not a file")
    add("missing", "missing.jpg", None, "no such file")
    add("name-over-255-bytes", "é" * 130 + ".jpg", None, "too long")  # 264 bytes: OSError "File name too long"
    add("spaces-unicode", "photo d'été 1.png", encode(gradient, "PNG"), "no face")
    loop = root / "loop.jpg"
    if not loop.is_symlink():
        os.symlink(root / "loop2.jpg", loop)
        os.symlink(loop, root / "loop2.jpg")
    made["symlink-loop"] = (loop, "symbolic link loop")
    add("8x8", "tiny.png", encode(Image.new("RGB", (8, 8), (200, 120, 90)), "PNG"), "no face")
    add("1xN", "thin.png", encode(Image.new("RGB", (1, 4000), (90, 90, 90)), "PNG"), "no face")
    add("Nx1", "flat.png", encode(Image.new("RGB", (4000, 1), (90, 90, 90)), "PNG"), "no face")
    add("gradient", "gradient.png", encode(gradient, "PNG"), "no face")
    tiles = [Image.open(lfw(n)).convert("RGB") for n in ("Abel_Pacheco", "Amber_Tamblyn", "Aaron_Sorkin")]
    group = Image.new("RGB", (750, 250))
    for i, tile in enumerate(tiles):
        group.paste(tile, (250 * i, 0))
    add("many-faces", "group.jpg", encode(group, "JPEG", quality=95), "faces detected")
    return made


ARRAYS = {  # library only: what numpy users pass by mistake
    "nan-array": (np.full((120, 160, 3), np.nan, np.float32), "NaN"),
    "wrong-shape-array": (np.zeros((120, 160, 5), np.uint8), "shape"),
    "empty-array": (np.zeros((0, 10, 3), np.uint8), "no pixels"),
    "garbage-bytes": (b"\x00\x01garbage", "not an image"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    return _files(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def gallery_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("gallery") / "g.db"
    assert CliRunner().invoke(main, ["enroll", "Amber", str(lfw("Amber_Tamblyn")), "--db", str(db)]).exit_code == 0
    return db


def snapshot(db: Path) -> tuple[list[tuple], str]:
    """Every row of every table, and the index file's hash."""
    with sqlite3.connect(db) as connection:
        tables = [r[0] for r in connection.execute("select name from sqlite_master where type='table' order by 1")]
        rows = [tuple(connection.execute(f'select * from "{t}" order by 1')) for t in tables]  # noqa: S608
    index = db.with_suffix(".faiss")
    return rows, hashlib.sha256(index.read_bytes()).hexdigest() if index.exists() else ""


def test_cli_enroll_verify_identify_refuse_every_kind(corpus, gallery_db):
    runner = CliRunner()
    before = snapshot(gallery_db)
    good = str(lfw("Amber_Tamblyn", 2))
    for kind, (path, expect) in corpus.items():
        extra = ["--require-single"] if kind == "many-faces" else []
        for args in (["enroll", "Someone", str(path), "--db", str(gallery_db), *extra],
                     ["verify", str(path), good, *extra],
                     ["identify", str(path), "--db", str(gallery_db), *extra]):
            if kind not in ("text", "truncated-jpeg", "many-faces", "8x8", "bomb", "name-over-255-bytes") \
                    and args[0] != "enroll":
                continue  # verify and identify read photos through the same path: a sample of kinds suffices
            result = runner.invoke(main, args)
            assert result.exit_code == 1, (kind, args[0], result.output)
            assert "Traceback" not in result.output and result.output.startswith("Error:"), (kind, result.output)
            assert path.name in result.output and expect in result.output, (kind, args[0], result.output)
    assert snapshot(gallery_db) == before


@pytest.mark.parametrize("detector", DETECTORS)
def test_library_raises_a_named_facerec_error_for_every_kind(detector, corpus, tmp_path):
    recognizer = FaceRecognizer(detector=detector)
    gallery = Gallery(recognizer, db=tmp_path / "g.db")
    gallery.enroll("Amber", [lfw("Amber_Tamblyn")])
    before = snapshot(tmp_path / "g.db")
    inputs = {kind: (str(path), expect) for kind, (path, expect) in corpus.items()}
    inputs |= {kind: (value, expect) for kind, (value, expect) in ARRAYS.items()}
    for kind, (value, expect) in inputs.items():
        single = kind == "many-faces"
        for call in (lambda v=value, s=single: gallery.enroll("Someone", [v], require_single=s),
                     lambda v=value, s=single: recognizer.verify(v, lfw("Amber_Tamblyn", 2), require_single=s),
                     lambda v=value, s=single: gallery.identify(v, require_single=s)):
            with pytest.raises(FaceRecError) as info:
                call()
            message = str(info.value)
            assert expect in message, (detector, kind, message)
            if isinstance(value, str):
                assert Path(value).name in message, (detector, kind, message)
    gallery.close()
    assert snapshot(tmp_path / "g.db") == before


@pytest.mark.parametrize("name", ["16-bit", "cmyk", "exif-rotated", "webp"])
def test_the_same_formats_made_from_a_face_are_enrolled(name, tmp_path, recognizer):
    """The control: odd formats are not refused for being odd, only for having no face."""
    photo = Image.open(lfw("Abel_Pacheco"))
    path = tmp_path / {"16-bit": "a.png", "cmyk": "a.jpg", "exif-rotated": "a.jpg", "webp": "a.webp"}[name]
    if name == "16-bit":
        Image.fromarray(np.asarray(photo.convert("L"), np.uint16) * 257).save(path)
    elif name == "cmyk":
        photo.convert("CMYK").save(path)
    elif name == "exif-rotated":
        exif = Image.Exif()
        exif[0x0112] = 8
        photo.rotate(-90, expand=True).save(path, exif=exif.tobytes())
    else:
        photo.save(path)
    assert len(recognizer.embed(path)) == 1


# --- Bad names, NaN thresholds, file names that are not UTF-8, hostile --db targets (issue 25: 9-11) ---

#: Names the CLI, the library and the API refuse alike (see enrollment.names), and a word of the message.
BAD_NAMES = {
    "ansi-escape": ("Evil\x1b[31mRed", "control"),
    "newline": ("two\nlines", "control"),
    "tab": ("tab\there", "control"),
    "slash": ("a/b", "slash"),
    "right-to-left-override": ("Amber\u202enylbmaT", "format"),
    "zero-width-space": ("Amber\u200bTamblyn", "format"),
    "only-spaces": ("   ", "1 to 255"),
    "256-characters": ("x" * 256, "1 to 255"),
    "300-characters": ("y" * 300, "1 to 255"),  # longer than a file name may be: the name-is-a-file check raised
}


def digests(db: Path) -> dict[str, str]:
    """sha256 of the gallery's database (its WAL checkpointed first) and index files."""
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    files = [db, db.with_suffix(".faiss"), Path(f"{db.with_suffix('.faiss')}.json")]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def assert_one_clear_line(result, *words: str) -> None:  # noqa: ANN001 - a click Result
    """Exit 1 or 2, no traceback, one line on stderr that says ``words``."""
    assert result.exit_code in (1, 2), (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output and not isinstance(result.exception, (OSError, UnicodeError, ValueError))
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    assert lines[0].isprintable(), repr(lines[0])  # no raw escape sequence reaches the terminal
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture
def small_gallery(tmp_path) -> Path:
    db = tmp_path / "g.db"
    assert CliRunner().invoke(main, ["enroll", "Amber", str(lfw("Amber_Tamblyn")), "--db", str(db)]).exit_code == 0
    return db


def test_cli_refuses_bad_names_and_changes_nothing(small_gallery):
    runner = CliRunner()
    before = digests(small_gallery)
    for kind, (name, expect) in BAD_NAMES.items():
        for args in (["enroll", name, str(lfw("Abel_Pacheco")), "--db", str(small_gallery)],
                     ["rename", "Amber", name, "--db", str(small_gallery)]):
            assert_one_clear_line(runner.invoke(main, args), expect)
        assert digests(small_gallery) == before, kind
    listed = runner.invoke(main, ["list", "--db", str(small_gallery), "--json"])
    assert [p["name"] for p in json.loads(listed.stdout)["people"]] == ["Amber"]


def test_the_library_refuses_bad_names_before_any_work(tmp_path, recognizer):
    gallery = Gallery(recognizer, db=tmp_path / "g.db")
    gallery.enroll("Amber", [lfw("Amber_Tamblyn")])
    before = digests(tmp_path / "g.db")
    for name, expect in [*BAD_NAMES.values(), (None, "text"), (b"Abel", "text")]:
        with pytest.raises(FaceRecError, match=expect):
            gallery.enroll(name, [lfw("Abel_Pacheco")])  # type: ignore[arg-type]
        if isinstance(name, str):
            with pytest.raises(FaceRecError, match=expect):
                gallery.rename("Amber", name)
    gallery.close()
    assert digests(tmp_path / "g.db") == before


def test_enroll_arguments_are_checked(tmp_path, recognizer):
    gallery = Gallery(recognizer, db=tmp_path / "g.db")
    gallery.enroll("Amber", [lfw("Amber_Tamblyn")])
    before = digests(tmp_path / "g.db")
    with pytest.raises(FaceRecError, match="no photo"):
        gallery.enroll("Abel", [])
    with pytest.raises(FaceRecError, match="list of photos"):
        gallery.enroll("Abel", 42)  # type: ignore[arg-type]
    assert digests(tmp_path / "g.db") == before
    assert [s.name for s in gallery.identities()] == ["Amber"]  # no person with 0 faces
    # One photo given alone (a path, as text or Path, or one array) is a list of one, not a list of characters.
    assert len(gallery.enroll("Abel", str(lfw("Abel_Pacheco"))).added_ids) == 1  # type: ignore[arg-type]
    assert len(gallery.enroll("Abel", lfw("Abel_Pacheco", 2)).added_ids) == 1  # type: ignore[arg-type]
    pixels = np.asarray(Image.open(lfw("Abel_Pacheco", 3)).convert("RGB"))
    assert len(gallery.enroll("Abel", pixels).added_ids) == 1
    gallery.close()


@pytest.mark.parametrize("value", ["nan", "NaN", "-nan", "inf", "-inf"])
def test_cli_refuses_thresholds_that_are_not_finite(value, small_gallery, tmp_path):
    runner = CliRunner()
    before = digests(small_gallery)
    photo = str(lfw("Amber_Tamblyn", 2))
    for args in (["verify", photo, str(lfw("Abel_Pacheco")), "--threshold", value],
                 ["identify", photo, "--db", str(small_gallery), "--threshold", value],
                 ["compare", "--known", str(lfw("Amber_Tamblyn").parent), "--unknown", photo, "--threshold", value],
                 ["serve", "--db", str(small_gallery), "--threshold", value]):
        result = runner.invoke(main, args)
        assert result.exit_code == 2 and "Traceback" not in result.output, (args[0], result.output)
        assert "--threshold" in result.stderr, (args[0], result.stderr)
    assert digests(small_gallery) == before


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 1.5, "0.4", None])
def test_the_library_refuses_thresholds_that_are_not_similarities(value, tmp_path, recognizer):
    if value is None:  # the control: no threshold given is the calibrated one
        assert FaceRecognizer(threshold=value).threshold == recognizer.weights.threshold
        return
    with pytest.raises(FaceRecError, match="threshold"):
        FaceRecognizer(threshold=value)  # type: ignore[arg-type]
    with pytest.raises(FaceRecError, match="threshold"):
        Gallery(recognizer, db=tmp_path / "new.db", threshold=value)  # type: ignore[arg-type]
    assert not (tmp_path / "new.db").exists()  # refused before anything was made


def test_identify_refuses_a_top_k_out_of_range(tmp_path, recognizer):
    import time

    gallery = Gallery(recognizer, db=tmp_path / "g.db")
    gallery.enroll("Amber", [lfw("Amber_Tamblyn")])
    vectors = recognizer.embed(lfw("Amber_Tamblyn", 2))
    for top_k in (0, -1, 10**9, 1001, 2.5, True):
        start = time.perf_counter()
        with pytest.raises(FaceRecError, match="top_k"):
            gallery.identify(lfw("Amber_Tamblyn", 2), top_k=top_k)  # type: ignore[arg-type]
        with pytest.raises(FaceRecError, match="top_k"):
            gallery.identify_embeddings([v.face for v in vectors], np.stack([v.embedding for v in vectors]),
                                        top_k=top_k)  # type: ignore[arg-type]
        assert time.perf_counter() - start < 5  # refused, not tried (10**9 candidates would need ~37 GiB)
    assert gallery.identify(lfw("Amber_Tamblyn", 2), top_k=1000)[0].name == "Amber"  # the largest allowed works
    gallery.close()


@pytest.fixture
def odd_names(tmp_path) -> Path:
    """A folder with a photo whose file name is Latin-1, not UTF-8 (caf\\xe9.jpg), and an empty one (\\xff\\xfe.jpg)."""
    folder = tmp_path / "odd"
    folder.mkdir()
    raw = os.fsencode(folder)
    try:
        with open(raw + b"/caf\xe9.jpg", "wb") as handle:
            handle.write(lfw("Abel_Pacheco").read_bytes())
        with open(raw + b"/\xff\xfe.jpg", "wb"):
            pass
    except OSError as exc:  # pragma: no cover - a file system that only takes UTF-8 names (macOS)
        pytest.skip(f"this file system refuses file names that are not UTF-8: {exc}")
    return folder


def test_embed_writes_a_folder_of_valid_utf8_and_resumes(odd_names, tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    first = runner.invoke(main, ["embed", str(odd_names), "-o", str(out), "--json"])
    assert first.exit_code == 0 and "Traceback" not in first.output, first.output
    report = json.loads(first.stdout)
    assert (report["photos"], report["faces"], len(report["failed"])) == (2, 1, 1)
    faces = (out / "faces.csv").read_bytes().decode("utf-8")  # valid UTF-8, the odd byte written as \xe9
    errors = (out / "errors.csv").read_bytes().decode("utf-8")
    assert "caf\\xe9.jpg" in faces and "\\xff\\xfe.jpg" in errors, (faces, errors)
    again = json.loads(runner.invoke(main, ["embed", str(odd_names), "-o", str(out), "--json"]).stdout)
    assert (again["resumed"], again["faces"]) == (2, 1)  # finished: nothing is redone


def test_enroll_and_identify_photos_whose_names_are_not_utf8(odd_names, small_gallery):
    runner = CliRunner()
    good, empty = (os.fsdecode(os.fsencode(odd_names) + name) for name in (b"/caf\xe9.jpg", b"/\xff\xfe.jpg"))
    before = digests(small_gallery)
    assert_one_clear_line(runner.invoke(main, ["enroll", "Someone", empty, "--db", str(small_gallery)]),
                          "\\xff\\xfe.jpg", "empty")
    assert digests(small_gallery) == before
    enrolled = runner.invoke(main, ["enroll", "Abel", good, "--db", str(small_gallery)])
    assert enrolled.exit_code == 0, enrolled.output
    with sqlite3.connect(small_gallery) as connection:
        sources = [row[0] for row in connection.execute("select source from faces where source like '%caf%'")]
    assert len(sources) == 1 and sources[0].endswith("caf\\xe9.jpg"), sources
    found = runner.invoke(main, ["identify", good, "--db", str(small_gallery), "--json"])
    assert found.exit_code == 0, found.output
    answer = json.loads(found.stdout)
    assert answer["faces"][0]["name"] == "Abel" and answer["image"].endswith("caf\\xe9.jpg")


def test_enroll_from_dir_skips_a_person_whose_folder_name_is_not_utf8(tmp_path):
    root = tmp_path / "people"
    (root / "Amber").mkdir(parents=True)
    (root / "Amber" / "1.jpg").write_bytes(lfw("Amber_Tamblyn").read_bytes())
    try:
        os.mkdir(os.fsencode(root) + b"/Ren\xe9")
        with open(os.fsencode(root) + b"/Ren\xe9/1.jpg", "wb") as handle:
            handle.write(lfw("Abel_Pacheco").read_bytes())
    except OSError as exc:  # pragma: no cover - macOS
        pytest.skip(f"this file system refuses file names that are not UTF-8: {exc}")
    db = tmp_path / "g.db"
    result = CliRunner().invoke(main, ["enroll", "--from-dir", str(root), "--db", str(db), "--json"])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    report = json.loads(result.stdout)
    assert report["added"] == {"Amber": 1}
    assert [f["file"].endswith("Ren\\xe9") and "not a valid person name" in f["error"] for f in report["failed"]] \
        == [True]


def _hostile_targets(root: Path) -> dict[str, str]:
    """--db values that are no gallery: a folder, a text file, a photo, a bogus URL."""
    root.mkdir()
    (root / "folder.db").mkdir()
    (root / "notes.db").write_text("these are my notes, not a database\n")
    (root / "photo.db").write_bytes(lfw("Amber_Tamblyn").read_bytes())
    return {"folder": str(root / "folder.db"), "text-file": str(root / "notes.db"),
            "photo-file": str(root / "photo.db"), "bogus-url": "bogus://nowhere/faces"}


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


KEYS_COMMANDS = [["keys", "list"], ["keys", "create", "--role", "read"], ["keys", "revoke", "0123456789ab"]]
GALLERY_COMMANDS = [["list"], ["remove", "Amber"], ["rename", "Amber", "Ann"], ["index", "stats"],
                    ["index", "rebuild"], ["identify", str(lfw("Amber_Tamblyn", 2))],
                    ["enroll", "Zed", str(lfw("Abel_Pacheco"))]]


@pytest.mark.parametrize("command", [" ".join(c[:2]) for c in KEYS_COMMANDS])
def test_keys_commands_on_a_hostile_db_say_so_in_one_line(command, tmp_path):
    args = next(c for c in KEYS_COMMANDS if " ".join(c[:2]) == command)
    root = tmp_path / "targets"
    targets = _hostile_targets(root)
    before = _tree(root)
    for kind, db in targets.items():
        assert_one_clear_line(CliRunner().invoke(main, [*args, "--db", db]))
        assert _tree(root) == before, kind


@pytest.mark.parametrize("command", [c[0] if c[0] != "index" else " ".join(c) for c in GALLERY_COMMANDS])
def test_gallery_commands_on_a_hostile_db_say_so_in_one_line(command, tmp_path):
    args = next(c for c in GALLERY_COMMANDS if (c[0] if c[0] != "index" else " ".join(c)) == command)
    root = tmp_path / "targets"
    targets = _hostile_targets(root)
    before = _tree(root)
    for kind, db in targets.items():
        result = CliRunner().invoke(main, [*args, "--db", db])
        assert_one_clear_line(result)
        assert _tree(root) == before, (kind, _tree(root))


# --- Huge images and bad weights files (issue 25: 6, 11), the gallery untouched ---

def test_a_7000_square_png_without_a_face_and_over_the_limit(gallery_db, tmp_path):
    """A 49-megapixel PNG of a few KB: decoded downscaled and answered "no face", the gallery unchanged
    (over the service's lower limit it is refused: tests/test_large_images.py)."""
    path = tmp_path / "wall.png"
    Image.new("L", (7000, 7000), 128).save(path)
    before = snapshot(gallery_db)
    for args, expect in ((["enroll", "Wall", str(path)], "no face"), (["identify", str(path)], "no face")):
        result = CliRunner().invoke(main, [*args, "--db", str(gallery_db)])
        assert result.exit_code == 1 and expect in result.output and "Traceback" not in result.output, result.output
    assert snapshot(gallery_db) == before


@pytest.mark.parametrize("kind", ["garbage", "pickle", "wrong-architecture"])
def test_bad_weights_files_leave_the_gallery_untouched(kind, gallery_db, tmp_path):
    import pickle

    import torch

    path = tmp_path / f"{kind}.pt"
    if kind == "garbage":
        path.write_bytes(os.urandom(4096))
    elif kind == "pickle":
        path.write_bytes(pickle.dumps({"not": "weights"}))
    else:
        torch.save({"conv.weight": torch.zeros(3, 3)}, path)
    before = snapshot(gallery_db)
    for args in (["enroll", "Abel", str(lfw("Abel_Pacheco"))], ["identify", str(lfw("Amber_Tamblyn", 2))]):
        result = CliRunner().invoke(main, [*args, "--db", str(gallery_db), "--weights", str(path)])
        last = result.output.strip().splitlines()[-1]
        assert result.exit_code == 1 and last.startswith("Error:") and "Traceback" not in result.output, \
            (kind, result.output)
    assert snapshot(gallery_db) == before


# --- Paths no file can have, and file names a terminal would act on (issue 34: 11, messages) ---

def test_a_path_over_255_bytes_is_one_clear_line_in_every_command(small_gallery, tmp_path):
    """enroll, enroll --from-dir, identify, verify, embed (in and out), watch and compare (and eval pairs --pairs,
    --weights, watch --out), given a name over 255 bytes (where the system raises OSError "File name too long"):
    one line saying so, the gallery as it was."""
    long = str(tmp_path / ("n" * 300 + ".jpg"))
    folder = str(tmp_path / ("d" * 300))
    photo = str(lfw("Amber_Tamblyn", 2))
    before = digests(small_gallery)
    db = ["--db", str(small_gallery)]
    for args in (["enroll", "Someone", long, *db], ["enroll", "--from-dir", folder, *db], ["identify", long, *db],
                 ["verify", long, photo], ["verify", photo, long], ["embed", long, "-o", str(tmp_path / "out")],
                 ["embed", photo, "-o", folder], ["watch", long, *db], ["watch", folder, *db],
                 ["compare", "--known", str(lfw("Amber_Tamblyn").parent), "--unknown", long],
                 # no layer reads these through a checked reader: the CLI's safety net says them in one line
                 ["eval", "pairs", "--pairs", long, "--root", str(tmp_path)],
                 ["verify", photo, photo, "--weights", long],
                 ["watch", str(lfw("Amber_Tamblyn").parent), *db, "--out", long.replace(".jpg", ".mp4"), "-q"]):
        result = CliRunner().invoke(main, args)
        if args[0] == "compare":  # click's own check of an existing path: a usage error
            assert result.exit_code == 2 and "Traceback" not in result.output, result.output
            continue
        assert_one_clear_line(result, "too long")
        if "--out" not in args:  # FFmpeg does not say which file
            assert "nnnnn" in result.stderr or "ddddd" in result.stderr, (args[0], result.stderr)  # the path is named
    assert digests(small_gallery) == before
    assert not (tmp_path / "out").exists()


#: File names a terminal would act on: an ANSI escape sequence (clears the screen), a right-to-left override.
HOSTILE_FILE_NAMES = {"ansi": ("evil\x1b[2J\x1b[31m.jpg", "evil\\x1b[2J\\x1b[31m.jpg"),
                      "rtl-override": ("photo\u202egnp.jpg", "photo\\u202egnp.jpg")}


@pytest.mark.parametrize("kind", list(HOSTILE_FILE_NAMES))
def test_file_names_with_escape_sequences_are_printed_escaped(kind, small_gallery, tmp_path):
    name, shown = HOSTILE_FILE_NAMES[kind]
    folder = tmp_path / "photos"
    folder.mkdir()
    bad = folder / name
    bad.write_text("not a photo")
    before = digests(small_gallery)
    for args in (["verify", str(bad), str(lfw("Amber_Tamblyn", 2))], ["identify", str(bad), "--db", str(small_gallery)],
                 ["enroll", "Someone", str(bad), "--db", str(small_gallery)]):
        assert_one_clear_line(CliRunner().invoke(main, args), shown)
    assert digests(small_gallery) == before
    (folder / "amber.jpg").write_bytes(lfw("Amber_Tamblyn", 2).read_bytes())
    embedded = CliRunner().invoke(main, ["embed", str(folder), "-o", str(tmp_path / "out"), "-q"])
    assert embedded.exit_code == 0 and f"no embedding for {folder}/{shown}" in embedded.stderr, embedded.output
    known = tmp_path / "known"
    known.mkdir()
    (known / "Amber.jpg").write_bytes(lfw("Amber_Tamblyn").read_bytes())
    compared = CliRunner().invoke(main, ["compare", "--known", str(known), "--unknown", str(folder), "-q"])
    assert compared.exit_code == 0 and f"{folder}/{shown}" in compared.stdout, compared.output
    people = tmp_path / "people"
    (people / "Amber").mkdir(parents=True)
    (people / "Amber" / name).write_text("not a photo")
    (people / "Amber" / "1.jpg").write_bytes(lfw("Amber_Tamblyn").read_bytes())
    enrolled = CliRunner().invoke(main, ["enroll", "--from-dir", str(people), "--db", str(tmp_path / "new.db"), "-q"])
    assert enrolled.exit_code == 0 and f"skipped {people}/Amber/{shown}" in enrolled.stderr, enrolled.output
    for result in (embedded, compared, enrolled):
        assert "\x1b" not in result.output and "\u202e" not in result.output, repr(result.output)
