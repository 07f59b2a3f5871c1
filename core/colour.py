"""Colour profiles (Pillow's ImageCms, which is LittleCMS): a photo's pixels mean what its ICC
profile says, so a result that can carry a profile (PNG, WebP, JPEG) carries the photo's own,
byte for byte, and one whose medium assumes sRGB (a Telegram sticker, a page's thumbnail) is
converted to sRGB with it. The model sees the photo's numbers as they are, as it always did.

A profile that cannot be read, or that does not describe RGB after the photo became RGB, counts
as sRGB with a log line: never a failure. A CMYK or grey photo's profile converts it to sRGB at
once (its RGB numbers then need no profile)."""

from __future__ import annotations

import io
import logging
from functools import lru_cache

from PIL import Image, ImageCms

logger = logging.getLogger(__name__)

# What a profile's colour space must be for each mode of a decoded photo (ImageCms's names).
SPACES = {"RGB": "RGB", "RGBA": "RGB", "P": "RGB", "PA": "RGB", "CMYK": "CMYK", "L": "GRAY", "LA": "GRAY"}


@lru_cache(maxsize=1)
def srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@lru_cache(maxsize=32)
def _profile(icc: bytes) -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(io.BytesIO(icc))


@lru_cache(maxsize=32)
def _usable(icc: bytes, space: str) -> str:
    """"" if LittleCMS reads `icc` as a profile of `space` and builds a transform with it (a
    damaged tag table passes the header's check but not this); else why not."""
    try:
        profile = _profile(icc)
        found = profile.profile.xcolor_space.strip()
        if found != space:
            return f"describes {found}, not {space}"
        mode = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}[space]
        ImageCms.buildTransform(profile, srgb(), mode, "RGB")
    except (OSError, ImageCms.PyCMSError, ValueError, TypeError, KeyError) as exc:
        return f"unreadable: {exc}"
    return ""


def readable(icc: bytes | None, space: str = "RGB") -> bytes | None:
    """`icc` if it is a usable profile of `space`, else None (logged: the photo counts as sRGB)."""
    if not icc:
        return None
    problem = _usable(icc, space)
    if problem:
        logger.warning("colour profile %s; the photo counts as sRGB", problem)
        return None
    return icc


def tagged(image: Image.Image) -> tuple[Image.Image, bytes | None]:
    """A decoded photo and the RGB profile its results carry: an RGB photo keeps its profile; a
    CMYK or grey one with a profile is converted to sRGB with it (None: nothing to carry)."""
    icc = image.info.get("icc_profile")
    space = SPACES.get(image.mode)
    if space is None or readable(icc, space) is None:
        return image, None
    if space == "RGB":
        return image, icc
    alpha = image.getchannel("A") if image.mode == "LA" else None
    try:
        converted = ImageCms.profileToProfile(image.convert("L") if alpha else image, _profile(icc), srgb(),
                                              outputMode="RGB")
    except (ImageCms.PyCMSError, ValueError, OSError) as exc:
        logger.warning("colour profile not applied (%s); the photo counts as sRGB", exc)
        return image, None
    if alpha is not None:
        converted.putalpha(alpha)
    return converted, None


def to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """An RGB or RGBA image in `icc`'s colours as sRGB (alpha unchanged); as it is without one."""
    if not icc:
        return image
    try:
        return ImageCms.profileToProfile(image, _profile(icc), srgb(), outputMode=image.mode)
    except (ImageCms.PyCMSError, ValueError, OSError) as exc:
        logger.warning("colour profile not applied (%s); shown as sRGB", exc)
        return image


def from_srgb(colour: tuple[int, int, int], icc: bytes | None) -> tuple[int, int, int]:
    """An sRGB colour (a bg_color the person picked) in `icc`'s numbers, so that it looks the same."""
    if not icc:
        return colour
    pixel = Image.new("RGB", (1, 1), colour)
    try:
        return ImageCms.profileToProfile(pixel, srgb(), _profile(icc), outputMode="RGB").getpixel((0, 0))
    except (ImageCms.PyCMSError, ValueError, OSError) as exc:
        logger.warning("colour profile not applied (%s); the colour is kept as sRGB numbers", exc)
        return colour


def between(image: Image.Image, source: bytes | None, target: bytes | None) -> Image.Image:
    """An RGB picture in `source`'s colours (None: sRGB) converted to `target`'s (a background
    picture put behind a photo in the photo's colours)."""
    if source == target:
        return image
    try:
        return ImageCms.profileToProfile(image, _profile(source) if source else srgb(),
                                         _profile(target) if target else srgb(), outputMode=image.mode)
    except (ImageCms.PyCMSError, ValueError, OSError) as exc:
        logger.warning("colour profile not applied (%s); the picture is kept as it is", exc)
        return image
