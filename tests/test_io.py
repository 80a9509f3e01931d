"""Image input: every bad or unusual input, on real files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from facerec.errors import ImageReadError, ImageTooLargeError
from facerec.io import load_image
from tests.conftest import ATT, YALE, lfw

PHOTO = lfw("Abel_Pacheco")


def test_grayscale_jpeg_becomes_three_equal_channels():
    image = load_image(PHOTO)
    assert image.shape == (250, 250, 3) and image.dtype == np.uint8
    assert np.array_equal(image[..., 0], image[..., 2])


@pytest.mark.parametrize("path", [ATT / "s1" / "1.pgm", YALE / "yaleB01" / "yaleB01_P00A+000E+00.pgm"])
def test_pgm_files_load(path):
    assert load_image(path).ndim == 3


def test_path_bytes_pil_and_array_agree():
    expected = load_image(PHOTO)
    assert np.array_equal(load_image(str(PHOTO)), expected)
    assert np.array_equal(load_image(PHOTO.read_bytes()), expected)
    assert np.array_equal(load_image(Image.open(PHOTO)), expected)
    assert np.array_equal(load_image(expected), expected)
    assert np.array_equal(load_image(expected[..., 0]), expected)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16"])
def test_modes_convert_to_rgb(tmp_path, mode):
    source = Image.open(PHOTO).convert("RGB")
    if mode == "I;16":
        wide = (np.asarray(source.convert("L"), np.uint16) * 257)
        converted = Image.fromarray(wide)
        assert converted.mode.startswith("I;16")
    elif mode == "P":
        converted = source.convert("P", palette=Image.Palette.ADAPTIVE)
    else:
        converted = source.convert(mode)
    path = tmp_path / ("img.tif" if mode == "CMYK" else "img.png")
    converted.save(path)
    image = load_image(path)
    assert image.shape == (250, 250, 3) and image.dtype == np.uint8
    gray = np.asarray(source.convert("L"), np.int16)
    assert np.abs(image[..., 1].astype(np.int16) - gray).mean() < 8  # same picture, not black or white


def test_sixteen_bit_array_scales_to_eight_bits():
    wide = np.full((4, 4), 65535, np.uint16)
    assert load_image(wide).max() == 255


def test_transparent_pixels_become_white():
    rgba = np.zeros((2, 2, 4), np.uint8)
    assert (load_image(rgba) == 255).all()


def test_exif_orientation_is_applied(tmp_path):
    upright = Image.open(PHOTO).convert("RGB").crop((0, 0, 250, 200))  # not square, to see the turn
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a sideways camera writes
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif, quality=95)
    image = load_image(path)
    assert image.shape[:2] == (200, 250)
    assert np.abs(image.astype(int) - np.asarray(upright, int)).mean() < 6


def test_exif_rotated_photo_still_finds_a_face(tmp_path, recognizer):
    stored = Image.open(PHOTO).convert("RGB").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif)
    assert len(recognizer.detect(path)) == 1


def test_truncated_jpeg_names_the_file(tmp_path):
    data = PHOTO.read_bytes()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated.jpg"):
        load_image(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        load_image(path)


def test_non_image_file(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are not pixels")
    with pytest.raises(ImageReadError, match="not an image"):
        load_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        load_image(tmp_path / "nope.jpg")


def test_pixel_limit():
    with pytest.raises(ImageTooLargeError, match="exceeds"):
        load_image(PHOTO, max_pixels=10_000)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (12_000, 12_000)).save(path)  # 144 MP in a few kB
    assert path.stat().st_size < 100_000
    with pytest.raises(ImageTooLargeError):
        load_image(path)


def test_bad_array_shape():
    with pytest.raises(ImageReadError, match="shape"):
        load_image(np.zeros((4, 4, 2), np.uint8))


def test_bytes_that_are_not_an_image():
    with pytest.raises(ImageReadError):
        load_image(io.BytesIO(b"x").getvalue())


@pytest.mark.parametrize("name, expect", [("n" * 300 + ".jpg", "too long"), ("a\x00b.jpg", "NUL")])
def test_a_path_that_cannot_be_a_file_name_is_an_image_read_error(tmp_path, name, expect):
    """A name over 255 bytes (OSError: File name too long) or with a NUL (ValueError) is said in one line."""
    with pytest.raises(ImageReadError, match=expect) as info:
        load_image(str(tmp_path / name))
    assert "\n" not in str(info.value)


def test_a_folder_in_the_path_that_is_a_file_is_an_image_read_error(tmp_path):
    (tmp_path / "plain").write_text("a file, not a folder")
    with pytest.raises(ImageReadError, match="not a folder"):
        load_image(tmp_path / "plain" / "photo.jpg")


def test_file_names_are_shown_escaped():
    from facerec.fileio import shown_path

    assert shown_path("photo d'été.jpg") == "photo d'été.jpg"  # printable text stays as it is
    assert shown_path("evil\x1b[31m.jpg") == "evil\\x1b[31m.jpg"  # no escape sequence reaches the terminal
    assert shown_path("gnp.\u202eexe.jpg") == "gnp.\\u202eexe.jpg"  # nor a right-to-left override
    assert shown_path("two\nlines.jpg") == "two\\nlines.jpg"
    assert shown_path(b"caf\xe9.jpg".decode("utf-8", "surrogateescape")) == "caf\\xe9.jpg"  # not UTF-8


def test_image_errors_show_the_file_name_escaped(tmp_path):
    path = tmp_path / "evil\x1b[2J\u202e.jpg"
    path.write_text("not a photo")
    with pytest.raises(ImageReadError) as info:
        load_image(path)
    assert str(info.value).isprintable() and "evil\\x1b[2J\\u202e.jpg" in str(info.value)
