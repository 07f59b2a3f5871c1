"""From a photo and its mask to the finished file: decoding, compositing, cropping, encoding. The
worker runs it after the model (worker/pipeline.py); a re-render runs it again from the stored
input and mask, without the model."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageColor, ImageOps

from core import colour
from core.errors import ImageTooLarge, InvalidImage
from core.images import inspect_image
from core.options import JobOptions
from core.png import encode_png

logger = logging.getLogger(__name__)

STICKER_SIDE = 512
STICKER_MAX_BYTES = 512 * 1024
STICKER_QUALITIES = (90, 80, 70, 60, 50, 40, 30, 20, 10)
JPEG_QUALITY = 90
# Lossless WebP, alpha kept: method 1 at the lowest effort is about half a fast PNG's size for
# several times its time (docs/benchmarks.md, "Transparent files: PNG or WebP").
WEBP_LOSSLESS = {"lossless": True, "method": 1, "quality": 0}
FILE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
# Mask values at or below this count as background when finding the subject's bounding box.
SUBJECT_THRESHOLD = 16


@dataclass(frozen=True)
class ProcessedImage:
    """The finished file and what it is."""

    data: bytes
    content_type: str
    width: int
    height: int


@dataclass(frozen=True)
class Photo:
    """A decoded photo as the model and the renders take it: upright 8-bit RGB, its own alpha if
    it has any, and the RGB colour profile its results carry (None: sRGB)."""

    rgb: Image.Image
    alpha: Image.Image | None
    icc: bytes | None


def open_photo(data: bytes, *, max_bytes: int, max_pixels: int) -> Photo:
    """An upload decoded (decode_image's checks and errors) as the model and the renders take it."""
    image, icc = colour.tagged(decode_image(data, max_bytes=max_bytes, max_pixels=max_pixels))
    return Photo(*split_alpha(image), icc)


def open_backdrop(data: bytes, icc: bytes | None, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """A picture to put behind a photo, as RGB in the photo's colours (`icc`)."""
    picture = open_photo(data, max_bytes=max_bytes, max_pixels=max_pixels)
    return colour.between(picture.rgb, picture.icc, icc)


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """Fully decode the first frame (a HEIC's primary image), upright; Pillow's bomb and
    truncation errors become domain errors."""
    # The header check keeps the pixel count within MAX_PIXELS before anything is decoded.
    inspect_image(data, max_bytes, max_pixels)
    try:
        image = Image.open(io.BytesIO(data))
        if image.format != "HEIF":  # a HEIC opens on its primary image, which need not be the first
            image.seek(0)
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(f"The image has too many pixels; the limit is {max_pixels / 1e6:.0f} megapixels.") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, RuntimeError) as exc:
        logger.info("undecodable image: %s", exc)
        raise InvalidImage("The image is damaged or truncated and cannot be read.") from None
    _make_upright(image)
    if image.width * image.height > max_pixels:
        raise ImageTooLarge(f"The image has too many pixels; the limit is {max_pixels / 1e6:.0f} megapixels.")
    return image


def _make_upright(image: Image.Image) -> None:
    """Apply the EXIF orientation in place; a damaged EXIF block costs the rotation, not the photo."""
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except Exception as exc:  # Pillow's EXIF parser raises many kinds on malformed tags
        logger.info("EXIF orientation ignored: %s", exc)


def split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """An 8-bit RGB image for the model and the input's own alpha ("L"), if it has any."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        image = _to_8bit_grey(image)
    if (image.mode == "P" and "transparency" in image.info) or image.mode == "PA":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "RGBa", "La"):
        image = image.convert("RGBA") if image.mode != "RGBA" else image
        alpha = image.getchannel("A")
        if alpha.getextrema() == (255, 255):
            return image.convert("RGB"), None
        # Transparent pixels often hide junk colour: show the model what a viewer sees (white).
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=alpha)
        return flat, alpha
    if image.mode != "RGB":
        image = image.convert("RGB")  # CMYK, palette, grey, bilevel, YCbCr ...
    return image, None


def _to_8bit_grey(image: Image.Image) -> Image.Image:
    """16-bit (and 32-bit) grey scaled to 0..255; Pillow's own convert would clip at 255."""
    pixels = np.asarray(image, dtype=np.float64)
    top = 65535.0 if image.mode.startswith("I;16") or pixels.max() > 255 else 255.0
    if image.mode == "F":
        top = max(float(pixels.max()), 1.0)
    scaled = np.clip(pixels * (255.0 / top), 0, 255)
    return Image.fromarray(np.rint(scaled).astype(np.uint8), mode="L")


def subject_box(mask: Image.Image, margin_percent: int) -> tuple[int, int, int, int]:
    """The subject's bounding box grown by margin_percent of its size; the whole image if none."""
    box = mask.point(lambda value: 255 if value > SUBJECT_THRESHOLD else 0).getbbox()
    if box is None:
        return (0, 0, mask.width, mask.height)
    left, top, right, bottom = box
    pad_x = round((right - left) * margin_percent / 100)
    pad_y = round((bottom - top) * margin_percent / 100)
    return (max(0, left - pad_x), max(0, top - pad_y), min(mask.width, right + pad_x), min(mask.height, bottom + pad_y))


def render(rgb: Image.Image, mask: Image.Image, options: JobOptions, background: Image.Image | None = None,
           icc: bytes | None = None) -> ProcessedImage:
    """Encode the output mode the options ask for, carrying the photo's profile `icc`; colour
    mode on `background` (in the photo's colours, filled to the canvas, cut to fit) instead of
    bg_color (an sRGB colour, given in the photo's colours) when given."""
    if options.mode == "mask":
        return _encoded(mask, "PNG", options)
    if options.mode == "color":
        canvas = (Image.new("RGB", rgb.size, colour.from_srgb(ImageColor.getrgb(options.bg_color), icc))
                  if background is None else backdrop(background, rgb.size))
        canvas.paste(rgb, mask=mask)
        return _encoded(canvas, FILE_FORMATS[options.content_type], options, icc)
    cutout = transparent(rgb, mask)
    if options.mode == "sticker":
        return sticker(cutout, options, icc)
    return _encoded(cutout, FILE_FORMATS[options.content_type], options, icc)


def backdrop(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A picture filling a canvas of `size`, cut to fit (the "on a picture" background)."""
    return ImageOps.fit(picture.convert("RGB"), size, Image.Resampling.LANCZOS)


def transparent(rgb: Image.Image, mask: Image.Image) -> Image.Image:
    """RGBA with the mask as alpha; fully transparent pixels zeroed so they compress to nothing."""
    cutout = Image.new("RGBA", rgb.size)
    cutout.paste(rgb, mask=mask.point(lambda value: 255 if value else 0))
    cutout.putalpha(mask)
    return cutout


def sticker(cutout: Image.Image, options: JobOptions, icc: bytes | None = None) -> ProcessedImage:
    """A Telegram sticker: WebP, longest side exactly 512 px, at most 512 KB, in sRGB (Telegram
    assumes it: a photo's profile `icc` converts the small picture, which costs little)."""
    scale = STICKER_SIDE / max(cutout.size)
    size = (max(1, round(cutout.width * scale)), max(1, round(cutout.height * scale)))
    small = colour.to_srgb(cutout.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0), icc)
    for quality in STICKER_QUALITIES:
        result = _encoded(small, "WEBP", options, quality=quality, method=4)  # sRGB, no profile
        if len(result.data) <= STICKER_MAX_BYTES:
            return result
    raise InvalidImage("The sticker could not be made small enough.")


def _encoded(image: Image.Image, fmt: str, options: JobOptions, icc: bytes | None = None, **params) -> ProcessedImage:
    return ProcessedImage(encode(image, fmt, icc, **params), options.content_type, image.width, image.height)


def encode(image: Image.Image, fmt: str, icc: bytes | None = None, **params) -> bytes:
    """An image as a PNG, JPEG or WebP file carrying `icc` and no other metadata (no EXIF, no
    XMP, whatever the photo had). PNG is core.png's; WebP is lossless unless a quality is given."""
    if fmt == "PNG":
        return encode_png(image, icc)
    if fmt == "JPEG":
        params = {"quality": JPEG_QUALITY, **params}
    elif fmt == "WEBP" and "quality" not in params:
        params = {**WEBP_LOSSLESS, **params}
    buffer = io.BytesIO()
    clean = image.copy() if image.info else image  # Pillow's writers may take metadata from info
    clean.info = {}
    clean.save(buffer, fmt, icc_profile=icc or None, exif=b"", **params)
    return buffer.getvalue()


def finish(photo: Photo, mask: Image.Image, options: JobOptions,
           background: Image.Image | None = None) -> ProcessedImage:
    """The output the options ask for, from the photo and the model's mask (the photo's size):
    what was already transparent stays transparent, then crop, then encode."""
    rgb, alpha = photo.rgb, photo.alpha
    if alpha is not None:
        mask = ImageChops.darker(mask, alpha)
    if options.crop:
        box = subject_box(mask, options.margin)
        rgb, mask = rgb.crop(box), mask.crop(box)
    rgb, mask = place(rgb, mask, *options.placement)
    return render(rgb, mask, options, background, photo.icc)


def place(rgb: Image.Image, mask: Image.Image, scale: float | None,
          position: tuple[float, float] | None) -> tuple[Image.Image, Image.Image]:
    """The subject resized to `scale` of the canvas (longest fit) and put at `position` (shares of
    the room left, 0.5 centred); with `position` None its centre stays where it was. remove.bg's
    scale and position; the canvas keeps its size."""
    box = mask.point(lambda value: 255 if value > SUBJECT_THRESHOLD else 0).getbbox()
    if box is None or (scale is None and position is None):
        return rgb, mask
    subject_rgb, subject_mask = rgb.crop(box), mask.crop(box)
    if scale is not None:
        factor = scale * min(rgb.width / subject_rgb.width, rgb.height / subject_rgb.height)
        size = (max(1, round(subject_rgb.width * factor)), max(1, round(subject_rgb.height * factor)))
        subject_rgb = subject_rgb.resize(size, Image.Resampling.LANCZOS)
        subject_mask = subject_mask.resize(size, Image.Resampling.LANCZOS)
    if position is None:
        x = round((box[0] + box[2]) / 2 - subject_rgb.width / 2)
        y = round((box[1] + box[3]) / 2 - subject_rgb.height / 2)
    else:
        x = round((rgb.width - subject_rgb.width) * position[0])
        y = round((rgb.height - subject_rgb.height) * position[1])
    placed_rgb, placed_mask = Image.new("RGB", rgb.size), Image.new("L", mask.size)
    placed_rgb.paste(subject_rgb, (x, y))
    placed_mask.paste(subject_mask, (x, y))
    return placed_rgb, placed_mask


def rerender(data: bytes, mask_png: bytes, options: JobOptions, *, max_bytes: int, max_pixels: int,
             background: bytes | None = None) -> ProcessedImage:
    """The same photo with other options (and, in colour mode, on a `background` image), from its
    stored input and mask: no model."""
    photo = open_photo(data, max_bytes=max_bytes, max_pixels=max_pixels)
    try:
        mask = Image.open(io.BytesIO(mask_png))
        mask.load()
    except (OSError, ValueError) as exc:
        raise InvalidImage("The stored mask cannot be read.") from exc
    if mask.mode != "L" or mask.size != photo.rgb.size:
        raise InvalidImage("The stored mask does not match the photo.")
    behind = (None if background is None
              else open_backdrop(background, photo.icc, max_bytes=max_bytes, max_pixels=max_pixels))
    return finish(photo, mask, options, behind)


def encode_mask(mask: Image.Image) -> bytes:
    """The mask as it is kept: an 8-bit grey PNG of the photo's size."""
    return encode_png(mask)
