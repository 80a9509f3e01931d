"""Image input: paths, bytes, PIL images or numpy arrays in, RGB uint8 arrays out.

EXIF orientation is applied; grayscale, palette, RGBA, CMYK and 16-bit images are
converted to 8-bit RGB; a pixel limit guards against decompression bombs; unreadable
input raises :class:`~facerec.errors.ImageReadError` naming the file.

Face work never needs a photo's full resolution: the detectors look at 640-800 pixels a side and an
aligned crop is 112 pixels, so :func:`decode_image` brings photos over :data:`WORK_PIXELS` down to that
size while decoding (a JPEG is decoded at 1/2, 1/4 or 1/8 scale, never at full size) and says by how
much, so that face coordinates can be given in the original photo's frame. A 7000x7000 photo then costs
its decode (at most about 8 bytes a pixel, briefly, for PNG and other formats without reduced decoding)
and a few tens of MB afterwards, instead of gigabytes in the detectors' padded copies.
"""

from __future__ import annotations

import errno
import io
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facerec.errors import ImageReadError, ImageTooLargeError
from facerec.fileio import checked, os_reason, shown_path

__all__ = ["IMAGE_SUFFIXES", "ImageInput", "DEFAULT_MAX_PIXELS", "WORK_PIXELS", "DecodedImage", "load_image",
           "decode_image", "decoding_pixels", "describe"]

# File names read as photos when a folder is scanned (enrollment, training, the zoo, benchmarks).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".bmp", ".tif", ".tiff", ".webp", ".gif"})

#: 50 megapixels: larger than any camera photo, small enough to decode safely.
DEFAULT_MAX_PIXELS = 50_000_000

#: 4 megapixels (e.g. 2309x1732 for a 4:3 photo): what detection and alignment work on. Larger photos are
#: downscaled while decoding; a face then keeps 0.58x (12 MP photo) or 0.29x (49 MP) of its width, and a
#: face large enough for the detectors (they see at most 640-800 pixels a side) stays far above the
#: 112-pixel aligned crop.
WORK_PIXELS = 4_000_000


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """An image decoded for face work: ``pixels`` (RGB uint8, ``H x W x 3``, at most the working size it was
    decoded for) and the ``width`` and ``height`` of the original, EXIF orientation applied. Coordinates
    found in ``pixels``, times :attr:`scale`, are in the original's frame.

    >>> decoded = decode_image(np.zeros((3000, 4000), np.uint8), work_pixels=3_000_000)
    >>> decoded.pixels.shape, decoded.width, decoded.scale
    ((1500, 2000, 3), 4000, 2.0)
    """

    pixels: np.ndarray
    width: int
    height: int

    @property
    def scale(self) -> float:
        """Original pixels per working pixel (1.0 when the image was not downscaled)."""
        return max(self.width, self.height) / max(self.pixels.shape[:2])


ImageInput = Union[str, Path, bytes, Image.Image, np.ndarray, DecodedImage]


def describe(source: ImageInput) -> str:
    """A short human name for an image source, used in messages (a path as :func:`~facerec.fileio.shown_path`
    prints it: no escape sequence or right-to-left override reaches a terminal)."""
    if isinstance(source, (str, Path)):
        return shown_path(source)
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    if isinstance(source, Image.Image):
        return f"<PIL image {source.width}x{source.height}>"
    if isinstance(source, np.ndarray):
        return f"<array {'x'.join(map(str, source.shape))}>"
    if isinstance(source, DecodedImage):
        return f"<image {source.width}x{source.height}>"
    return f"<{type(source).__name__}>"


def load_image(source: ImageInput, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Return ``source`` as an ``HxWx3`` uint8 RGB array, at full resolution (a :class:`DecodedImage`
    gives its working pixels).

    >>> load_image(np.zeros((4, 4), dtype=np.uint8)).shape
    (4, 4, 3)
    """
    return decode_image(source, max_pixels=max_pixels, work_pixels=None).pixels


def decode_image(source: ImageInput, *, max_pixels: int = DEFAULT_MAX_PIXELS,
                 work_pixels: int | None = WORK_PIXELS) -> DecodedImage:
    """``source`` decoded for face work: downscaled while decoding to at most ``work_pixels`` (``None``:
    full resolution), with the original's size. Refuses images over ``max_pixels`` before decoding them."""
    if isinstance(source, DecodedImage):
        return source
    name = describe(source)
    if isinstance(source, np.ndarray):
        pixels = _array_to_rgb(source, name, max_pixels)
        height, width = pixels.shape[:2]
        target = _target_size(width, height, work_pixels)
        if target is not None:
            pixels = np.asarray(Image.fromarray(pixels).resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0))
        return DecodedImage(pixels, width, height)
    if isinstance(source, Image.Image):
        _check_pixels(source, name, max_pixels)
        return _reduced(source, name, work_pixels, draft=False)
    if isinstance(source, bytes):
        return _decode(io.BytesIO(source), name, max_pixels, work_pixels)
    if isinstance(source, (str, Path)):
        # every OSError on the way (a name over 255 bytes, a NUL, permission denied) is one line naming the file
        with checked(source, error=lambda _, reason: ImageReadError(name, reason)) as path:
            if not path.is_file():
                raise ImageReadError(name, _why_not_a_file(path))
            if path.stat().st_size == 0:
                raise ImageReadError(name, "the file is empty")
            with path.open("rb") as handle:
                return _decode(handle, name, max_pixels, work_pixels)
    raise ImageReadError(name, f"unsupported input type {type(source).__name__}")


def decoding_pixels(data: bytes, *, work_pixels: int | None = WORK_PIXELS) -> int:
    """How many pixels :func:`decode_image` holds at once to decode ``data``, read from its header alone: its
    full size, or for a JPEG the reduced size it decodes at (0 when the header cannot be read; decoding it
    then fails at once).

    >>> decoding_pixels(b"not an image")
    0
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            target = _target_size(image.width, image.height, work_pixels)
            if target is not None:
                image.draft(None, target)  # sets the scale a JPEG will decode at; reads no pixels
            return image.width * image.height
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        return 0


def _why_not_a_file(path: Path) -> str:
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except RuntimeError:
            return "a symbolic link loop"
        except OSError:
            return "a broken symbolic link"
    try:
        path.stat()
    except OSError as exc:  # e.g. a part of the path that is a file, not a folder
        return "no such file" if exc.errno == errno.ENOENT else os_reason(exc)
    return "not a file"


def _decode(stream: BinaryIO, name: str, max_pixels: int, work_pixels: int | None) -> DecodedImage:
    try:
        with warnings.catch_warnings():
            # facerec's own limit (max_pixels) is checked below, before decoding; Pillow's warning would
            # refuse images the caller allowed, and its message would quote Pillow's limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream)
            _check_pixels(image, name, max_pixels)
            return _reduced(image, name, work_pixels, draft=True)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:  # over Pillow's hard limit: Image.open refused it
        raise _bomb(name, str(exc), max_pixels) from None
    except UnidentifiedImageError:
        raise ImageReadError(name, "not an image file (unknown format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(name, f"corrupt or truncated image ({exc})") from None


#: How ``--max-pixels`` is named in messages: the service's option and the library's argument.
_LIMIT = "--max-pixels / max_pixels"


def _check_pixels(image: Image.Image, name: str, max_pixels: int) -> None:
    pixels = image.width * image.height
    if pixels > max_pixels:
        raise ImageTooLargeError(
            name, f"{image.width}x{image.height} = {pixels:,} pixels exceeds facerec's limit of {max_pixels:,} "
                  f"pixels ({_LIMIT})"
        )
    if pixels == 0:
        raise ImageReadError(name, "the image has no pixels")


def _bomb(name: str, pillow_message: str, max_pixels: int) -> ImageTooLargeError:
    """Pillow refused to open an image over twice ``Image.MAX_IMAGE_PIXELS``: say so in facerec's terms."""
    found = re.search(r"\((\d+) pixels\)", pillow_message)
    size = f"{int(found.group(1)):,} pixels" if found else "the image"
    pillow_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    if max_pixels < pillow_limit or not found or int(found.group(1)) > max_pixels:
        return ImageTooLargeError(name, f"{size} exceeds facerec's limit of {max_pixels:,} pixels ({_LIMIT})")
    return ImageTooLargeError(name, f"{size} exceeds {pillow_limit:,} pixels, the most Pillow decodes; "
                                    f"{_LIMIT} ({max_pixels:,}) cannot raise that")


def _target_size(width: int, height: int, work_pixels: int | None) -> tuple[int, int] | None:
    """The working size of a ``width x height`` image (same aspect), or None when it is small enough."""
    if work_pixels is None or width * height <= work_pixels:
        return None
    factor = math.sqrt(work_pixels / (width * height))
    return max(1, int(width * factor)), max(1, int(height * factor))


#: EXIF orientation -> the transpose that undoes it (as :func:`PIL.ImageOps.exif_transpose` applies it).
_ORIENTATION = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
                5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                8: Image.Transpose.ROTATE_90}


def _reduced(image: Image.Image, name: str, work_pixels: int | None, *, draft: bool) -> DecodedImage:
    """``image`` decoded at its working size; ``draft`` lets a JPEG decode at 1/2, 1/4 or 1/8 scale."""
    width, height = image.size
    target = _target_size(width, height, work_pixels)
    if target is None:
        image.load()
        pixels = _pil_to_rgb(ImageOps.exif_transpose(image), name)
        return DecodedImage(pixels, pixels.shape[1], pixels.shape[0])
    if draft:
        image.draft(None, target)  # JPEG only: decodes straight to a size at least ``target``
    image.load()
    orientation = image.getexif().get(0x0112)  # read after load: a PNG's eXIf chunk may follow its pixels
    if image.mode in ("1", "P", "PA"):  # resampled as colours, not as palette indices
        image = image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info else
                              "L" if image.mode == "1" else "RGB")
    small = image.resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0)
    del image  # the full-size pixels go now, not when the caller's frame ends
    if orientation in _ORIENTATION:
        small = small.transpose(_ORIENTATION[orientation])
        if orientation in (5, 6, 7, 8):
            width, height = height, width
    return DecodedImage(_pil_to_rgb(small, name), width, height)


def _pil_to_rgb(image: Image.Image, name: str) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _array_to_rgb(np.asarray(image), name, max_pixels=None)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _array_to_rgb(array: np.ndarray, name: str, max_pixels: int | None) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageReadError(name, f"expected an HxW, HxWx3 or HxWx4 array, got shape {array.shape}")
    if max_pixels is not None and array.shape[0] * array.shape[1] > max_pixels:
        raise ImageTooLargeError(name, f"{array.shape[1]}x{array.shape[0]} pixels exceeds {max_pixels:,}")
    if array.size == 0:
        raise ImageReadError(name, "the image has no pixels")
    array = _to_uint8(array, name)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.shape[2] == 4:
        alpha = array[:, :, 3:4].astype(np.float32) / 255.0
        array = (array[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(array)


def _to_uint8(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageReadError(name, "the image contains NaN or infinite values")
        scale = 255.0 if array.max(initial=0.0) <= 1.0 else 1.0
        return np.clip(array * scale, 0, 255).round().astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        peak = int(array.max(initial=0))
        if array.dtype != np.uint16 and 0 <= int(array.min(initial=0)) and peak <= 255:
            return array.astype(np.uint8)
        # 16-bit samples (PIL reads 16-bit PNG/TIFF as int32): scale 0..65535 down to 0..255.
        top = 65535.0 if peak <= 65535 else float(np.iinfo(array.dtype).max)
        return np.clip(array.astype(np.float64) * (255.0 / top), 0, 255).round().astype(np.uint8)
    raise ImageReadError(name, f"unsupported pixel type {array.dtype}")
