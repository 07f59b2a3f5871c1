"""Test images made on the fly: a red subject on a dark background, in any format."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

BACKGROUND = (20, 30, 40)
SUBJECT = (230, 20, 20)


def subject_image(size: tuple[int, int] = (120, 80), box: tuple[int, int, int, int] | None = None) -> Image.Image:
    """An RGB image: a red rectangle (the subject, by default the middle half) on a dark background."""
    width, height = size
    box = box or (width // 4, height // 4, width * 3 // 4 - 1, height * 3 // 4 - 1)
    image = Image.new("RGB", size, BACKGROUND)
    ImageDraw.Draw(image).rectangle(box, fill=SUBJECT)
    return image


def encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    """The image saved in `fmt` as bytes."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    """Bytes opened and fully loaded with Pillow."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
