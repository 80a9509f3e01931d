"""Image input: paths, bytes, PIL images or numpy arrays in, RGB uint8 arrays out.

EXIF orientation is applied; grayscale, palette, RGBA, CMYK and 16-bit images are
converted to 8-bit RGB; a pixel limit guards against decompression bombs; unreadable
input raises :class:`~facerec.errors.ImageReadError` naming the file.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facerec.errors import ImageReadError, ImageTooLargeError

__all__ = ["IMAGE_SUFFIXES", "ImageInput", "DEFAULT_MAX_PIXELS", "load_image", "describe"]

ImageInput = Union[str, Path, bytes, Image.Image, np.ndarray]

#: 50 megapixels: larger than any camera photo, small enough to decode safely.
# File names read as photos when a folder is scanned (enrollment, training, the zoo, benchmarks).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".bmp", ".tif", ".tiff", ".webp", ".gif"})

DEFAULT_MAX_PIXELS = 50_000_000


def describe(source: ImageInput) -> str:
    """A short human name for an image source, used in messages."""
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    if isinstance(source, Image.Image):
        return f"<PIL image {source.width}x{source.height}>"
    if isinstance(source, np.ndarray):
        return f"<array {'x'.join(map(str, source.shape))}>"
    return f"<{type(source).__name__}>"


def load_image(source: ImageInput, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Return ``source`` as an ``HxWx3`` uint8 RGB array.

    >>> load_image(np.zeros((4, 4), dtype=np.uint8)).shape
    (4, 4, 3)
    """
    name = describe(source)
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source, name, max_pixels)
    if isinstance(source, Image.Image):
        _check_pixels(source, name, max_pixels)
        return _pil_to_rgb(ImageOps.exif_transpose(source), name)
    if isinstance(source, bytes):
        return _decode(io.BytesIO(source), name, max_pixels)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageReadError(name, _why_not_a_file(path))
        if path.stat().st_size == 0:
            raise ImageReadError(name, "the file is empty")
        with path.open("rb") as handle:
            return _decode(handle, name, max_pixels)
    raise ImageReadError(name, f"unsupported input type {type(source).__name__}")


def _why_not_a_file(path: Path) -> str:
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except RuntimeError:
            return "a symbolic link loop"
        except OSError:
            return "a broken symbolic link"
    return "no such file" if not path.exists() else "not a file"


def _decode(stream: BinaryIO, name: str, max_pixels: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream)
            _check_pixels(image, name, max_pixels)
            image.load()
    except ImageTooLargeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(name, str(exc)) from None
    except UnidentifiedImageError:
        raise ImageReadError(name, "not an image file (unknown format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(name, f"corrupt or truncated image ({exc})") from None
    return _pil_to_rgb(ImageOps.exif_transpose(image), name)


def _check_pixels(image: Image.Image, name: str, max_pixels: int) -> None:
    pixels = image.width * image.height
    if pixels > max_pixels:
        raise ImageTooLargeError(
            name, f"{image.width}x{image.height} = {pixels:,} pixels exceeds the limit of {max_pixels:,}"
        )
    if pixels == 0:
        raise ImageReadError(name, "the image has no pixels")


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
