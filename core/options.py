"""Output options of a job: what the user asked the cut-out to look like."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from core.errors import InvalidOptions

MODES = ("png", "sticker", "color", "mask")
EXTENSIONS = {"image/webp": "webp", "image/jpeg": "jpg", "image/png": "png"}
FORMATS = ("png", "jpeg", "webp")
WEBP_MAX_SIDE = 16383  # the WebP format's own limit
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


@dataclass(frozen=True)
class JobOptions:
    """mode: png (transparent), sticker (512 px WebP), color (subject on bg_color), mask."""

    mode: str = "png"
    bg_color: str = "#ffffff"
    crop: bool = False
    margin: int = 5  # percent of the subject's size kept around it when cropping
    format: str = "png"  # png; webp (lossless, alpha kept) for png and color modes; jpeg for color
    scale: int = 0  # the subject's share of the canvas, 10 to 100 percent; 0: as it was
    position: str = "original"  # where the subject sits: original, center, or "x% y%" (scale alone centres)

    @property
    def placement(self) -> tuple[float | None, tuple[float, float] | None]:
        """(scale as a share, position as shares) for core.render.place; (None, None): leave it."""
        scale = self.scale / 100 if self.scale else None
        position = parse_position(self.position)
        if scale is not None and position is None and self.position == "original":
            position = (0.5, 0.5)
        return scale, position

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> JobOptions:
        """Stored options; a key this version does not know (written by a newer one, mid-deploy) is
        left out rather than making the job unreadable."""
        known = {f.name for f in fields(cls)}
        return parse_options({k: v for k, v in json.loads(text or "{}").items() if k in known})

    @property
    def content_type(self) -> str:
        if self.mode == "sticker" or (self.format == "webp" and self.mode in ("png", "color")):
            return "image/webp"
        if self.mode == "color" and self.format == "jpeg":
            return "image/jpeg"
        return "image/png"

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.content_type]


def parse_options(raw: Mapping[str, Any] | None) -> JobOptions:
    """Validate options from any front end (strings or native values); raise InvalidOptions."""
    raw = dict(raw or {})
    unknown = set(raw) - {"mode", "bg_color", "crop", "margin", "format", "scale", "position"}
    if unknown:
        raise InvalidOptions(f"Unknown option(s): {', '.join(sorted(unknown))}")
    mode = str(raw.get("mode") or "png").lower()
    if mode not in MODES:
        raise InvalidOptions(f"mode must be one of {', '.join(MODES)}")
    match = _HEX.match(str(raw.get("bg_color") or "#ffffff").strip())
    if not match:
        raise InvalidOptions("bg_color must be a hex colour like #ffffff")
    fmt = str(raw.get("format") or "png").lower().replace("jpg", "jpeg")
    if fmt not in FORMATS:
        raise InvalidOptions("format must be png, webp or jpeg")
    return JobOptions(
        mode=mode,
        bg_color="#" + match.group(1).lower(),
        crop=_parse_bool(raw.get("crop", False)),
        margin=_parse_margin(raw.get("margin", 5)),
        format=fmt,
        scale=_parse_scale(raw.get("scale", 0)),
        position=_parse_position_option(raw.get("position") or "original"),
    )


def check_fits(options: JobOptions, width: int, height: int) -> None:
    """InvalidOptions, before any charge, for a result its format cannot hold."""
    if options.content_type == "image/webp" and options.mode != "sticker" and max(width, height) > WEBP_MAX_SIDE:
        raise InvalidOptions(f"WebP holds at most {WEBP_MAX_SIDE} px a side; ask for png.")


def parse_scale(value: str) -> int | None:
    """"10%".."100%" (or a bare number) as whole percent; "original" or "" as 0; None if invalid."""
    text = str(value).strip().lower().removesuffix("%")
    if text in ("", "original", "0"):
        return 0
    try:
        percent = float(text)
    except ValueError:
        return None
    return round(percent) if 10 <= percent <= 100 else None


def parse_position(value: str) -> tuple[float, float] | None:
    """"center" or one or two of "0%".."100%" as shares; None for "original" (and for nonsense,
    which check_position refuses first)."""
    text = str(value).strip().lower()
    if text == "center":
        return 0.5, 0.5
    tokens = text.split()
    if not 1 <= len(tokens) <= 2 or not all(re.fullmatch(r"\d+(?:\.\d+)?%", t) for t in tokens):
        return None
    shares = [float(token[:-1]) / 100 for token in tokens]
    if any(share > 1 for share in shares):
        return None
    return shares[0], shares[-1]


def valid_position(value: str) -> bool:
    return str(value).strip().lower() == "original" or parse_position(value) is not None


def _parse_scale(value: Any) -> int:
    scale = parse_scale(str(value))
    if scale is None:
        raise InvalidOptions("scale must be from 10% to 100% (or original)")
    return scale


def _parse_position_option(value: Any) -> str:
    if not valid_position(str(value)):
        raise InvalidOptions("position must be original, center, or one or two values from 0% to 100%")
    return str(value).strip().lower()


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise InvalidOptions("crop must be true or false")


def _parse_margin(value: Any) -> int:
    try:
        margin = int(value)
    except (TypeError, ValueError):
        raise InvalidOptions("margin must be a whole number of percent") from None
    if not 0 <= margin <= 50:
        raise InvalidOptions("margin must be between 0 and 50 percent")
    return margin
