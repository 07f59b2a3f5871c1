"""Cheap checks of an uploaded image before anything is charged (Pillow only, no model)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from core.errors import ImageTooLarge, InvalidImage

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO"}


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int


def inspect_image(data: bytes, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Identify an image from its header; raise InvalidImage or ImageTooLarge with a clear reason."""
    if not data:
        raise InvalidImage("The file is empty.")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"The file is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB.")
    try:
        # Opening reads the header only; the pixel limit below refuses a bomb before anything
        # decodes it. (No warnings.catch_warnings here: it changes process-wide state and is
        # not safe in the threads of the panel and the bot.)
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format, image.size
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"The image has too many pixels; the limit is {max_pixels / 1e6:.0f} megapixels.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise InvalidImage("The file is not an image we can read (JPEG, PNG, WebP, BMP, TIFF or GIF).") from None
    if fmt not in ACCEPTED_FORMATS:
        raise InvalidImage(f"{fmt} images are not supported; send JPEG, PNG, WebP, BMP, TIFF or GIF.")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} ({width * height / 1e6:.1f} MP); the limit is {max_pixels / 1e6:.0f} MP."
        )
    return ImageInfo(format=fmt, width=width, height=height)
