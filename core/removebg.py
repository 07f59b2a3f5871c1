"""remove.bg's API, over Cutout's jobs: its parameters read and checked (with its error codes),
and its output rendered from a done job's kept input and mask (core.render). The HTTP side is
admin_panel/removebg.py; the job is an ordinary one (core.jobs), so the money rules are core's.

remove.bg's parameter names and meanings: size, type, format, channels, bg_color, bg_image_*,
crop, crop_margin, scale, position, roi, semitransparency (accepted, no effect)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageChops, ImageColor

from core import colour
from core.errors import CutoutError
from core.images import inspect_image
from core.options import WEBP_MAX_SIDE, parse_position, parse_scale, valid_position
from core.png import encode_png
from core.render import (
    JPEG_QUALITY,
    SUBJECT_THRESHOLD,
    backdrop,
    decode_image,
    encode,
    open_backdrop,
    open_photo,
    place,
    transparent,
)

PREVIEW_PIXELS = 250_000  # remove.bg's preview: up to 0.25 megapixels
# remove.bg's sizes and its legacy names, as pixel caps (None: the photo's own resolution).
SIZES = {"auto": None, "full": None, "4k": None, "hd": 4_000_000, "medium": 1_500_000,
         "preview": PREVIEW_PIXELS, "small": PREVIEW_PIXELS, "regular": PREVIEW_PIXELS}
FORMATS = ("auto", "png", "jpg", "webp", "zip")
TYPES = ("auto", "person", "product", "animal", "car", "car_interior", "car_part", "transportation", "graphics",
         "other")
MAX_MARGIN_PIXELS, MAX_MARGIN_PERCENT = 500, 50
_LENGTH = re.compile(r"^(\d+(?:\.\d+)?)(px|%)?$")


class RemoveBgError(CutoutError):
    """A refusal in remove.bg's terms: its error code, title and HTTP status (nothing is charged)."""

    code = "invalid_request"

    def __init__(self, code: str, detail: str, status: int = 400, title: str | None = None):
        super().__init__(detail)
        self.code, self.status = code, status
        self.title = title or detail


@dataclass(frozen=True)
class Length:
    """A length in pixels, or in percent of what it is relative to."""

    value: float
    percent: bool

    def pixels(self, of: int) -> int:
        return round(self.value * of / 100) if self.percent else round(self.value)


@dataclass(frozen=True)
class Params:
    """One request's output parameters, checked."""

    size: str = "preview"  # remove.bg's default
    type: str = "auto"
    format: str = "auto"
    channels: str = "rgba"
    bg_color: tuple[int, int, int, int] | None = None
    crop: bool = False
    crop_margin: tuple[Length, Length, Length, Length] = (Length(0, False),) * 4  # top, right, bottom, left
    scale: float | None = None  # the subject's share of the canvas, 0.1 to 1
    position: tuple[float, float] | None = None  # where the subject sits, 0 to 1 each; None: where it was
    roi: tuple[Length, Length, Length, Length] = (Length(0, True), Length(0, True), Length(100, True),
                                                 Length(100, True))

    @property
    def max_pixels(self) -> int | None:
        return SIZES[self.size]

    @property
    def preview(self) -> bool:
        return self.max_pixels == PREVIEW_PIXELS


@dataclass(frozen=True)
class Output:
    data: bytes
    content_type: str
    width: int
    height: int
    foreground: tuple[int, int, int, int]  # top, left, width, height of the subject in the output


def parse_params(fields: Mapping[str, Any]) -> Params:
    """remove.bg's output parameters from a request's fields (strings, or JSON's values)."""
    text = {name: str(value).strip() for name, value in fields.items() if value is not None and value != ""}
    size = text.get("size", "preview").lower()
    if size not in SIZES:
        raise RemoveBgError("invalid_size", f"size must be one of {', '.join(SIZES)}.")
    kind = text.get("type", "auto").lower()
    if kind not in TYPES:
        raise RemoveBgError("invalid_type", f"type must be one of {', '.join(TYPES)}.")
    fmt = text.get("format", "auto").lower().replace("jpeg", "jpg")
    if fmt not in FORMATS:
        raise RemoveBgError("invalid_format", f"format must be one of {', '.join(FORMATS)}.")
    channels = text.get("channels", "rgba").lower()
    if channels not in ("rgba", "alpha"):
        raise RemoveBgError("invalid_channels", "channels must be rgba or alpha.")
    scale, position = _scale(text.get("scale")), _position(text.get("position"))
    if scale is not None and "position" not in text:
        position = (0.5, 0.5)  # remove.bg: scaling implies position=center
    return Params(size=size, type=kind, format=fmt, channels=channels, bg_color=_color(text.get("bg_color")),
                  crop=_flag(text.get("crop", "false")), crop_margin=_margin(text.get("crop_margin", "0")),
                  scale=scale, position=position, roi=_roi(text.get("roi", "0% 0% 100% 100%")))


def _flag(value: str) -> bool:
    return value.lower() in ("1", "true", "yes", "on")


def _color(value: str | None) -> tuple[int, int, int, int] | None:
    if value is None:
        return None
    hexa = value.removeprefix("#")
    if re.fullmatch(r"[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8}", hexa):
        if len(hexa) == 3:
            hexa = "".join(digit * 2 for digit in hexa)
        red, green, blue = (int(hexa[i:i + 2], 16) for i in (0, 2, 4))
        return red, green, blue, int(hexa[6:8], 16) if len(hexa) == 8 else 255
    try:
        return ImageColor.getcolor(value.lower(), "RGBA")
    except ValueError:
        raise RemoveBgError("invalid_bg_color", "bg_color must be a hex colour (3, 6 or 8 digits) or a "
                                                "colour name.") from None


def _length(token: str, code: str, what: str) -> Length:
    match = _LENGTH.match(token.strip().lower())
    if not match:
        raise RemoveBgError(code, f"{what} must be given in px or %, not {token!r}.")
    return Length(float(match.group(1)), match.group(2) == "%")


def _margin(value: str) -> tuple[Length, Length, Length, Length]:
    tokens = value.replace(",", " ").split()
    if len(tokens) not in (1, 2, 4):
        raise RemoveBgError("invalid_crop_margin", "crop_margin takes one, two or four values.")
    lengths = [_length(token, "invalid_crop_margin", "crop_margin") for token in tokens]
    for length in lengths:
        if length.value > (MAX_MARGIN_PERCENT if length.percent else MAX_MARGIN_PIXELS):
            raise RemoveBgError("invalid_crop_margin", "crop_margin is at most 50% or 500px on each side.")
    if len(lengths) == 1:
        lengths *= 4
    elif len(lengths) == 2:
        lengths *= 2
    return tuple(lengths)


def _scale(value: str | None) -> float | None:
    percent = parse_scale(value or "original")
    if percent is None:
        raise RemoveBgError("invalid_scale", "scale must be from 10% to 100%, or original.")
    return percent / 100 or None


def _position(value: str | None) -> tuple[float, float] | None:
    if not valid_position(value or "original"):
        raise RemoveBgError("invalid_position", "position must be original, center, or one or two values "
                                                "from 0% to 100%.")
    return parse_position(value or "original")


def _roi(value: str) -> tuple[Length, Length, Length, Length]:
    tokens = value.split()
    if len(tokens) != 4:
        raise RemoveBgError("invalid_roi", "roi must be four values: x1 y1 x2 y2 (px or %).")
    return tuple(_length(token, "invalid_roi", "roi") for token in tokens)


def check_before_charging(photo: bytes, background: bytes | None, params: Params, *, max_bytes: int,
                          max_pixels: int) -> None:
    """Every refusal that can be known before the model runs, so that none comes after the charge:
    the photo's header, the roi against its upright size, WebP's size limit, the background."""
    inspect_image(photo, max_bytes, max_pixels)
    width, height = upright_size(photo)
    roi_box(params, width, height)
    if params.max_pixels and width * height > params.max_pixels:
        factor = (params.max_pixels / (width * height)) ** 0.5
        width, height = int(width * factor), int(height * factor)
    if params.format == "webp" and max(width, height) > WEBP_MAX_SIDE:
        raise RemoveBgError("resolution_too_high", f"WebP holds at most {WEBP_MAX_SIDE} px a side; ask for "
                                                   "png or jpg, or a smaller size.")
    if background is not None:
        decode_image(background, max_bytes=max_bytes, max_pixels=max_pixels)


def upright_size(data: bytes) -> tuple[int, int]:
    """The photo's width and height once its EXIF orientation is applied (from the header)."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        try:
            turned = image.getexif().get(0x0112) in (5, 6, 7, 8)
        except Exception:  # a damaged EXIF block: decode_image ignores it too
            turned = False
    return (height, width) if turned else (width, height)


def roi_box(params: Params, width: int, height: int) -> tuple[int, int, int, int]:
    """The region of interest in pixels of a width x height photo; remove.bg's roi errors."""
    x1, y1, x2, y2 = (length.pixels(of) for length, of in zip(params.roi, (width, height, width, height), strict=True))
    if x2 > width or y2 > height:
        raise RemoveBgError("roi_exceeds_bounds", f"roi reaches beyond the image ({width}x{height} px).")
    if x2 <= x1 or y2 <= y1:
        raise RemoveBgError("roi_region_empty", "roi encloses no pixels: x2 must exceed x1 and y2 exceed y1.")
    return x1, y1, x2, y2


def render(photo: bytes, mask_png: bytes, params: Params, *, background: bytes | None = None, max_bytes: int,
           max_pixels: int) -> Output:
    """The answer to one request, from the photo and its mask (the model's, the photo's size)."""
    opened = open_photo(photo, max_bytes=max_bytes, max_pixels=max_pixels)
    rgb, alpha = opened.rgb, opened.alpha
    mask = Image.open(io.BytesIO(mask_png))
    mask.load()
    if alpha is not None:  # what was transparent already stays so, as in every other output
        mask = ImageChops.darker(mask, alpha)
    anywhere = _subject(mask) is not None
    mask = _only_roi(mask, roi_box(params, *rgb.size))
    if _subject(mask) is None:
        where = " within the roi." if anywhere else "."
        error = RemoveBgError("unknown_foreground", f"Could not identify a foreground in the image{where}",
                              title="Could not identify foreground in image")
        error.outside_roi = anywhere  # the subject is there, outside the roi: the job's cut-out exists
        raise error
    rgb, mask = _resized(rgb, mask, params.max_pixels)
    if params.crop:
        rgb, mask = _cropped(rgb, mask, params.crop_margin)
    rgb, mask = place(rgb, mask, params.scale, params.position)
    cutout = transparent(rgb, mask)
    top, left, width, height = _foreground(cutout)
    data, content_type = _encoded(cutout, params, background, opened.icc, max_bytes=max_bytes,
                                  max_pixels=max_pixels)
    return Output(data, content_type, cutout.width, cutout.height, (top, left, width, height))


def _only_roi(mask: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    if box == (0, 0, *mask.size):
        return mask
    kept = Image.new("L", mask.size, 0)
    kept.paste(mask.crop(box), box[:2])
    return kept


def _subject(mask: Image.Image) -> tuple[int, int, int, int] | None:
    return mask.point(lambda value: 255 if value > SUBJECT_THRESHOLD else 0).getbbox()


def _resized(rgb: Image.Image, mask: Image.Image, cap: int | None) -> tuple[Image.Image, Image.Image]:
    if cap is None or rgb.width * rgb.height <= cap:
        return rgb, mask
    factor = (cap / (rgb.width * rgb.height)) ** 0.5
    size = (max(1, int(rgb.width * factor)), max(1, int(rgb.height * factor)))
    return rgb.resize(size, Image.Resampling.LANCZOS), mask.resize(size, Image.Resampling.LANCZOS)


def _cropped(rgb: Image.Image, mask: Image.Image, margin) -> tuple[Image.Image, Image.Image]:
    left, top, right, bottom = _subject(mask)
    width, height = right - left, bottom - top
    sides = zip(margin, (height, width, height, width), strict=True)
    m_top, m_right, m_bottom, m_left = (length.pixels(of) for length, of in sides)
    box = (max(0, left - m_left), max(0, top - m_top), min(rgb.width, right + m_right),
           min(rgb.height, bottom + m_bottom))
    return rgb.crop(box), mask.crop(box)


def _foreground(cutout: Image.Image) -> tuple[int, int, int, int]:
    box = _subject(cutout.getchannel("A")) or (0, 0, 0, 0)
    return box[1], box[0], box[2] - box[0], box[3] - box[1]


def _encoded(cutout: Image.Image, params: Params, background: bytes | None, icc: bytes | None, *,
             max_bytes: int, max_pixels: int) -> tuple[bytes, str]:
    """The file asked for, in the photo's colours (`icc`, carried by every colour file)."""
    alpha = cutout.getchannel("A")
    if params.channels == "alpha":
        return _save(alpha, "png" if params.format in ("auto", "zip") else params.format)
    if params.format == "zip":  # remove.bg's: the colours as JPEG, the alpha as PNG
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("color.jpg", _save(cutout.convert("RGB"), "jpg", icc)[0])
            archive.writestr("alpha.png", encode_png(alpha))
        return buffer.getvalue(), "application/zip"
    image = cutout
    if params.bg_color is not None:
        image = _on_color(cutout, params.bg_color, icc)
    elif background is not None:
        canvas = backdrop(open_backdrop(background, icc, max_bytes=max_bytes, max_pixels=max_pixels), cutout.size)
        canvas.paste(cutout.convert("RGB"), mask=alpha)
        image = canvas
    fmt = params.format
    if fmt == "auto":  # remove.bg's: PNG when some of it is transparent, else JPEG
        fmt = "png" if image.mode == "RGBA" and image.getchannel("A").getextrema()[0] < 255 else "jpg"
    return _save(image, fmt, icc)


def _on_color(cutout: Image.Image, color: tuple[int, int, int, int], icc: bytes | None) -> Image.Image:
    """On an sRGB colour, given in the photo's colours."""
    shade = colour.from_srgb(color[:3], icc)
    if color[3] == 255:  # as /api/v1's colour mode does, so the two agree pixel for pixel
        canvas = Image.new("RGB", cutout.size, shade)
        canvas.paste(cutout.convert("RGB"), mask=cutout.getchannel("A"))
        return canvas
    return Image.alpha_composite(Image.new("RGBA", cutout.size, (*shade, color[3])), cutout)


CONTENT_TYPES = {"png": ("PNG", "image/png"), "jpg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}


def _save(image: Image.Image, fmt: str, icc: bytes | None = None) -> tuple[bytes, str]:
    kind, content_type = CONTENT_TYPES[fmt]
    if kind == "JPEG":
        image = image.convert("RGB")
    quality = {"quality": JPEG_QUALITY} if kind == "WEBP" else {}  # remove.bg's WebP is lossy
    return encode(image, kind, icc if image.mode != "L" else None, **quality), content_type
