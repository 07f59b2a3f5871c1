"""Cheap checks of an uploaded image before anything is charged (Pillow only, no model).

Formats: JPEG, PNG, WebP, HEIC/HEIF (iPhones; through pillow-heif, registered here so every
process that reads images reads it), AVIF (Pillow's own), BMP, TIFF and GIF. An animation (GIF,
WebP, APNG, AVIF sequence) gives its first frame; a HEIC holding several images gives its
primary one, as the phone shows it."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pillow_heif
from PIL import Image, UnidentifiedImageError

from core.errors import ImageTooLarge, InvalidImage

pillow_heif.register_heif_opener()

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "HEIF", "AVIF", "BMP", "TIFF", "GIF", "MPO"}
# The one list people read, in the bot, the API's errors, the web page and the README.
FORMAT_LABELS = ("JPEG", "PNG", "WebP", "HEIC", "AVIF", "BMP", "TIFF", "GIF")
FORMAT_NAMES = f"{', '.join(FORMAT_LABELS[:-1])} or {FORMAT_LABELS[-1]}"
NOT_READABLE = f"The file is not an image we can read ({FORMAT_NAMES})."
# The same formats as a browser names them (a file it cannot name is left for the server to judge).
ACCEPTED_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif", "image/heic-sequence",
                  "image/heif-sequence", "image/avif", "image/bmp", "image/x-ms-bmp", "image/tiff", "image/gif")
# Formats whose extra frames are an animation's (a HEIC's are other pictures; an MPO's, a stereo pair).
ANIMATED_FORMATS = {"GIF", "WEBP", "PNG", "AVIF"}


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    animated: bool = False  # only the first frame is used


def inspect_image(data: bytes, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Identify an image from its header; raise InvalidImage or ImageTooLarge with a clear reason."""
    if not data:
        raise InvalidImage("The file is empty.")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"The file is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB.")
    try:
        # Opening reads the header only (for HEIF and AVIF, the container's boxes); the pixel
        # limit below refuses a bomb before anything decodes it. (No warnings.catch_warnings
        # here: it changes process-wide state and is not safe in the panel's and bot's threads.)
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format, image.size
            animated = fmt in ANIMATED_FORMATS and bool(getattr(image, "is_animated", False))
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"The image has too many pixels; the limit is {max_pixels / 1e6:.0f} megapixels.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, RuntimeError, EOFError):
        raise InvalidImage(NOT_READABLE) from None
    if fmt not in ACCEPTED_FORMATS:
        raise InvalidImage(f"{fmt} images are not supported; send {FORMAT_NAMES}.")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} ({width * height / 1e6:.1f} MP); the limit is {max_pixels / 1e6:.0f} MP."
        )
    return ImageInfo(format=fmt, width=width, height=height, animated=animated)
