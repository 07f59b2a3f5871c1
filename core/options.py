"""Output options of a job: what the user asked the cut-out to look like."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from core.errors import InvalidOptions

MODES = ("png", "sticker", "color", "mask")
EXTENSIONS = {"image/webp": "webp", "image/jpeg": "jpg", "image/png": "png"}
FORMATS = ("png", "jpeg")
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


@dataclass(frozen=True)
class JobOptions:
    """mode: png (transparent), sticker (512 px WebP), color (subject on bg_color), mask."""

    mode: str = "png"
    bg_color: str = "#ffffff"
    crop: bool = False
    margin: int = 5  # percent of the subject's size kept around it when cropping
    format: str = "png"  # for mode=color: png or jpeg

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> JobOptions:
        return parse_options(json.loads(text or "{}"))

    @property
    def content_type(self) -> str:
        if self.mode == "sticker":
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
    unknown = set(raw) - {"mode", "bg_color", "crop", "margin", "format"}
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
        raise InvalidOptions("format must be png or jpeg")
    return JobOptions(
        mode=mode,
        bg_color="#" + match.group(1).lower(),
        crop=_parse_bool(raw.get("crop", False)),
        margin=_parse_margin(raw.get("margin", 5)),
        format=fmt,
    )


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
