"""Large photos: a 7000x7000 PNG (49 megapixels in under a MB) is decoded to a working size, verified and
identified in its own pixel coordinates, without gigabytes; the pixel limit is facerec's, and says so.

The canvases hold real LFW faces, scaled up and pasted, so that a face is still found after the downscale.
"""

from __future__ import annotations

import io
import struct
import threading
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facerec.cli import main
from facerec.errors import ImageReadError, ImageTooLargeError, NoFaceError
from facerec.io import WORK_PIXELS, decode_image, load_image
from tests.conftest import lfw

SIDE = 7000
FACE_SIDE, FACE_AT = 2500, (3000, 1500)  # where the LFW photo lands on the canvas (x, y)


def canvas(path: Path, name: str | None, number: int = 1, fmt: str = "PNG", **options: Any) -> Path:
    """A ``SIDE x SIDE`` grey canvas with the LFW photo ``name_number`` scaled up at ``FACE_AT``."""
    image = Image.new("RGB", (SIDE, SIDE), (120, 120, 120))
    if name is not None:
        image.paste(Image.open(lfw(name, number)).convert("RGB").resize((FACE_SIDE, FACE_SIDE), Image.BICUBIC),
                    FACE_AT)
    image.save(path, fmt, **options)
    return path


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("big")
    photos = {"abel_1": canvas(folder / "abel_1.png", "Abel_Pacheco", 1, compress_level=1),
              "abel_2": canvas(folder / "abel_2.png", "Abel_Pacheco", 2, compress_level=1),
              "adam": canvas(folder / "adam.png", "Adam_Sandler", 1, compress_level=1),
              "blank": canvas(folder / "blank.png", None, compress_level=1)}
    assert all(p.stat().st_size < 2_000_000 for p in photos.values())  # small on disk, 49 MP each
    return photos


def rss() -> int:
    """This process's resident memory, in bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def peak_growth(work: Callable[[], Any]) -> tuple[Any, int]:
    """``work()``'s result and how far this process's resident memory rose above where it was while it ran."""
    before, peak, done = rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            done.wait(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = work()
    finally:
        done.set()
        sampler.join()
    return result, max(peak[0], rss()) - before


def inside_pasted_photo(box: list[float] | tuple[float, ...]) -> bool:
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return (FACE_AT[0] < cx < FACE_AT[0] + FACE_SIDE and FACE_AT[1] < cy < FACE_AT[1] + FACE_SIDE
            and x2 - x1 > FACE_SIDE / 4)  # and of the pasted face's size, not the working image's


def test_verify_of_7000x7000_photos_in_bounded_memory(recognizer, big):
    recognizer.verify(lfw("Abel_Pacheco", 1), lfw("Abel_Pacheco", 2))  # warm up: sessions and arenas exist
    full_size = SIDE * SIDE * 3  # one decoded RGB copy of the photo: 147 MB
    result, growth = peak_growth(lambda: recognizer.verify(big["abel_1"], big["abel_2"]))
    assert result.same_person, result
    assert growth < 3 * full_size, f"verify of two 49 MP photos took {growth / 1e6:.0f} MB more memory"
    assert inside_pasted_photo(result.face_a.box) and inside_pasted_photo(result.face_b.box)
    assert not recognizer.verify(big["abel_1"], big["adam"]).same_person


def test_a_large_photo_without_a_face_is_a_clear_no_face(recognizer, big):
    with pytest.raises(NoFaceError, match="blank.png"):
        recognizer.embed(big["blank"])


def test_cli_verify_of_7000x7000_photos(big, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    same = CliRunner().invoke(main, ["verify", str(big["abel_1"]), str(big["abel_2"])])
    assert same.exit_code == 0 and "same person" in same.output, same.output
    blank = CliRunner().invoke(main, ["verify", str(big["blank"]), str(big["abel_2"])])
    assert blank.exit_code == 1 and "no face detected in" in blank.output and "blank.png" in blank.output
    assert "Traceback" not in blank.output


def test_large_jpeg_is_decoded_reduced_and_exif_rotated(recognizer, tmp_path):
    """A 7000x7000 JPEG decodes straight to a fraction of its size; EXIF orientation 6 (stored rotated)
    is undone on the reduced pixels, and faces are given in the upright photo's coordinates."""
    stored = tmp_path / "stored.png"
    canvas(stored, "Abel_Pacheco", compress_level=1)
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: the stored pixels are the upright photo turned 90 degrees left
    path = tmp_path / "rotated.jpg"
    Image.open(stored).transpose(Image.Transpose.ROTATE_90).save(path, "JPEG", quality=90, exif=exif)
    decoded = decode_image(path)
    assert decoded.pixels.shape[0] * decoded.pixels.shape[1] <= WORK_PIXELS
    assert (decoded.width, decoded.height) == (SIDE, SIDE) and decoded.scale > 3
    [face] = recognizer.detect(path)
    assert inside_pasted_photo(face.box), face.box
    upright = recognizer.embed(lfw("Abel_Pacheco", 1))[0].embedding
    assert float(np.dot(recognizer.embed(path)[0].embedding, upright)) > 0.7  # the same face, upright


def test_decode_keeps_small_photos_as_they_are():
    photo = lfw("Abel_Pacheco")
    decoded = decode_image(photo)
    assert decoded.scale == 1.0 and np.array_equal(decoded.pixels, load_image(photo))


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width x height`` 8-bit grey pixels (its data is cut short)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def test_the_pixel_limit_message_names_facerecs_limit(tmp_path):
    """Over Pillow's own limit (178,956,970 pixels) the message still quotes facerec's limit and option."""
    with pytest.raises(ImageTooLargeError) as caught:
        load_image(png_header(20_000, 10_000), max_pixels=25_000_000)
    message = str(caught.value)
    assert "25,000,000" in message and "--max-pixels" in message and "200,000,000" in message
    assert "178956970" not in message and "178,956,970" not in message
    path = tmp_path / "huge.png"
    path.write_bytes(png_header(20_000, 10_000))
    cli = CliRunner().invoke(main, ["verify", str(path), str(lfw("Abel_Pacheco"))])
    assert cli.exit_code == 1 and "--max-pixels" in cli.output and "178956970" not in cli.output, cli.output


def test_the_callers_limit_not_pillows_warning_decides():
    """Between Pillow's warning (89 MP) and its error, an image within max_pixels is decoded (here it is
    cut short, so it is a read error, not a size error)."""
    with pytest.raises(ImageReadError, match="truncated") as caught:
        load_image(png_header(9_500, 9_500), max_pixels=100_000_000)
    assert not isinstance(caught.value, ImageTooLargeError)


def test_the_service_answers_large_photos_in_their_own_coordinates(recognizer, big, tmp_path, one_torch_thread):
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from facerec.serve import ServeSettings
    from tests.serve_helpers import running_server

    limit = ServeSettings().max_pixels
    assert limit < SIDE * SIDE  # by default the service refuses such a photo, before decoding it
    with pytest.raises(ImageTooLargeError, match=f"{limit:,}.*--max-pixels"):
        load_image(big["abel_1"], max_pixels=limit)
    with running_server(recognizer, tmp_path, max_pixels=SIDE * SIDE, rate_per_key=0) as server:
        with server.client("read") as client:
            refused = client.post("/v1/identify", files={"image": ("huge.png", png_header(20_000, 10_000))})
            assert refused.status_code == 413 and "--max-pixels" in refused.json()["detail"], refused.text
            answer = client.post("/v1/identify", files={"image": ("abel.png", big["abel_1"].read_bytes())})
            assert answer.status_code == 200, answer.text
            found = answer.json()
            assert found["image"] == {"width": SIDE, "height": SIDE}
            assert inside_pasted_photo(found["faces"][0]["face"]["box"]), found
            verified = client.post("/v1/verify", files={"image_a": ("a.png", big["abel_1"].read_bytes()),
                                                        "image_b": ("b.png", big["abel_2"].read_bytes())})
            assert verified.status_code == 200 and verified.json()["same_person"], verified.text
            assert inside_pasted_photo(verified.json()["face_a"]["box"])


def test_large_decodes_share_a_pixel_budget():
    """Photos over the working size decode at most ``total`` pixels at a time: a second 49 MP photo waits for
    the first, small ones do not wait, and a job told to stop gives up waiting."""
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from facerec.io import decoding_pixels
    from facerec.serve.limits import Cancelled, PixelBudget

    png = io.BytesIO()
    Image.new("L", (SIDE, SIDE)).save(png, "PNG")
    jpeg = io.BytesIO()
    Image.new("RGB", (SIDE, SIDE)).save(jpeg, "JPEG")
    assert decoding_pixels(png.getvalue()) == SIDE * SIDE  # a PNG decodes at full size first
    assert decoding_pixels(jpeg.getvalue()) <= SIDE * SIDE // 4  # a JPEG decodes reduced (1/2 a side here)
    budget = PixelBudget(SIDE * SIDE)
    order: list[str] = []
    first_in, release = threading.Event(), threading.Event()

    def first() -> None:
        with budget.hold(SIDE * SIDE):
            first_in.set()
            release.wait(5)
            order.append("first done")

    def second() -> None:
        with budget.hold(SIDE * SIDE):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_in.wait(5)
    threads[1].start()
    with budget.hold(0):  # a small photo goes at once
        order.append("small")
    threads[1].join(0.3)
    assert threads[1].is_alive() and order == ["small"]  # the second large one waits
    release.set()
    for thread in threads:
        thread.join(5)
    assert order == ["small", "first done", "second in"] and budget.used == 0

    from facerec.serve.limits import _job

    cancel = threading.Event()
    cancel.set()
    with budget.hold(SIDE * SIDE):
        _job.cancel = cancel  # as the work queue marks a job whose request timed out
        try:
            with pytest.raises(Cancelled), budget.hold(SIDE * SIDE):
                pass
        finally:
            _job.cancel = None
