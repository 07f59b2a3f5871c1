"""The image pipeline: a pure function from uploaded bytes and options to the finished file (and
the model's mask, kept for re-renders). The compositing is core/render.py's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.metrics import stage
from core.options import JobOptions
from core.render import ProcessedImage, encode_mask, finish, open_photo

if TYPE_CHECKING:
    from worker.engine import Engine


@dataclass(frozen=True)
class Processed(ProcessedImage):
    """The finished file, and the model's mask it was made from as it is kept: an 8-bit PNG of
    the upright photo's size (core.render.rerender makes other files from it)."""

    mask_png: bytes | None = None


def process_image(data: bytes, options: JobOptions, engine: Engine, *, max_bytes: int, max_pixels: int) -> Processed:
    """Cut the subject out of an uploaded image; raise InvalidImage or ImageTooLarge for bad input."""
    with stage("decode"):
        photo = open_photo(data, max_bytes=max_bytes, max_pixels=max_pixels)
    with stage("inference"):
        mask = engine.predict_mask(photo.rgb)  # the photo's own numbers, whatever its profile
    with stage("encode"):
        result = finish(photo, mask, options)
        mask_png = encode_mask(mask)
    return Processed(result.data, result.content_type, result.width, result.height, mask_png=mask_png)


