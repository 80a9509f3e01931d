"""The bad-input corpus: verify, enroll and identify (CLI and library) over 28 kinds of bad input.

For each: a non-zero exit (or a FaceRecError), no traceback, a message that names the input and the
problem, and the gallery byte-for-byte unchanged (database rows and index file). Every odd but valid
format (16-bit, CMYK, palette, LA, RGBA, EXIF-rotated, GIF, TIFF, WebP) is made from a picture with no
face in it, so it exercises the decoder and still has to end in a clear "no face" message.
"""

from __future__ import annotations

import hashlib
import io
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


def test_the_corpus_has_at_least_25_kinds(corpus):
    assert len(corpus) + len(ARRAYS) >= 25


def test_cli_enroll_verify_identify_refuse_every_kind(corpus, gallery_db):
    runner = CliRunner()
    before = snapshot(gallery_db)
    good = str(lfw("Amber_Tamblyn", 2))
    for kind, (path, expect) in corpus.items():
        extra = ["--require-single"] if kind == "many-faces" else []
        for args in (["enroll", "Someone", str(path), "--db", str(gallery_db), *extra],
                     ["verify", str(path), good, *extra],
                     ["identify", str(path), "--db", str(gallery_db), *extra]):
            if kind not in ("text", "truncated-jpeg", "many-faces", "8x8", "bomb") and args[0] != "enroll":
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
