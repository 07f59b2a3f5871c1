"""The image pipeline's input side, with a tiny ONNX model loaded by the worker's engine: formats,
orientation, limits, bad input, colour modes (the output side is in test_pipeline_output.py).

The tiny model (tests/support/tiny_model.py) calls bright or red pixels the subject, so the
test images are a red rectangle on a dark background unless a test needs something else.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from core.errors import ImageTooLarge, InvalidImage
from tests.support.images import SUBJECT, decode, encode, subject_image
from tests.support.pipeline import SUBJECT_BOX, alpha_of, assert_near, opaque_box, run

# --- decoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "params"),
    [("JPEG", {"quality": 95}), ("PNG", {}), ("WEBP", {"lossless": True}), ("BMP", {}), ("TIFF", {})],
)
def test_each_accepted_format_is_cut_out(engine, fmt, params):
    result = run(encode(subject_image(), fmt, **params), engine)
    assert (result.width, result.height) == (120, 80)
    assert_near(opaque_box(result), SUBJECT_BOX)


def test_gif_uses_its_first_frame(engine):
    first = subject_image(box=(0, 0, 39, 79)).convert("P")
    second = subject_image(box=(80, 0, 119, 79)).convert("P")
    data = encode(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    assert_near(opaque_box(run(data, engine)), (0, 0, 40, 80))


def _with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = subject_image((120, 80), box=(0, 0, 39, 29))  # subject in the top-left corner as stored
    return encode(stored, "JPEG", quality=95, exif=exif)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(engine, orientation):
    data = _with_orientation(orientation)
    upright = ImageOps.exif_transpose(decode(data))
    expected = Image.fromarray(((np.asarray(upright)[..., 0] > 128) * 255).astype(np.uint8)).getbbox()
    result = run(data, engine)
    assert (result.width, result.height) == upright.size
    assert (result.width, result.height) == ((80, 120) if orientation >= 5 else (120, 80))
    assert_near(opaque_box(result), expected)


def test_damaged_exif_costs_the_rotation_not_the_photo(engine, monkeypatch):
    def broken(image, **kwargs):
        raise SyntaxError("bad EXIF tag")

    monkeypatch.setattr(ImageOps, "exif_transpose", broken)
    result = run(_with_orientation(6), engine)
    assert (result.width, result.height) == (120, 80)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_corrupt_exif_block_is_ignored(engine):
    data = encode(subject_image(), "JPEG", quality=95, exif=b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff")
    assert_near(opaque_box(run(data, engine)), SUBJECT_BOX)


# --- limits and bad input ----------------------------------------------------------------------


def test_file_over_max_upload_bytes_is_too_large(engine):
    data = encode(subject_image())
    with pytest.raises(ImageTooLarge, match="limit"):
        run(data, engine, limits={"max_bytes": len(data) - 1, "max_pixels": 40_000_000})


def test_image_over_max_pixels_is_too_large(engine):
    with pytest.raises(ImageTooLarge, match="MP"):
        run(encode(subject_image((120, 80))), engine, limits={"max_bytes": 10**7, "max_pixels": 120 * 80 - 1})


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims to be width x height and holds one scrap of compressed zeros."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))


def test_decompression_bomb_is_too_large_not_a_crash(engine):
    with pytest.raises(ImageTooLarge):
        run(_png_header_only(50_000, 50_000), engine)


def test_pillow_bomb_error_is_too_large_not_a_crash(engine, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 120 * 80 // 2 - 100)  # Pillow's error line: twice this
    with pytest.raises(ImageTooLarge):
        run(encode(subject_image((120, 80))), engine)


def test_pillow_bomb_warning_alone_does_not_refuse_an_image_within_max_pixels(engine, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 120 * 80 - 100)  # over the warning line, under the error
    with pytest.warns(Image.DecompressionBombWarning):
        assert run(encode(subject_image((120, 80))), engine).width == 120


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_is_invalid_not_a_crash(engine, fmt):
    data = encode(subject_image((400, 300)), fmt)
    with pytest.raises(InvalidImage, match="damaged or truncated"):
        run(data[: len(data) // 2], engine)


def test_png_claiming_more_pixels_than_it_holds_is_invalid(engine):
    with pytest.raises(InvalidImage):
        run(_png_header_only(400, 300), engine)


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"%PDF-1.7\n"], ids=["empty", "text", "pdf"])
def test_non_image_is_invalid(engine, data):
    with pytest.raises(InvalidImage):
        run(data, engine)


# --- colour modes ------------------------------------------------------------------------------


def test_cmyk_jpeg_is_cut_out_with_its_colours(engine):
    result = run(encode(subject_image().convert("CMYK"), "JPEG", quality=95), engine)
    image = decode(result.data)
    assert_near(opaque_box(result), SUBJECT_BOX)
    red, green, blue, _ = image.getpixel((60, 40))
    assert red > 200 and green < 60 and blue < 60


def test_palette_transparency_stays_transparent(engine):
    # The hidden colour of the transparent pixels is white, which the model would call subject.
    image = Image.new("P", (120, 80), 0)
    image.putpalette([255, 255, 255, *SUBJECT] + [0] * 762)
    ImageDraw.Draw(image).rectangle((30, 20, 89, 59), fill=1)
    result = run(encode(image, "PNG", transparency=0), engine)
    assert_near(opaque_box(result), SUBJECT_BOX)
    assert alpha_of(result)[5, 5] == 0


def test_grey_image_is_cut_out(engine):
    grey = Image.new("L", (120, 80), 20)
    ImageDraw.Draw(grey).rectangle((30, 20, 89, 59), fill=220)
    result = run(encode(grey), engine)
    assert_near(opaque_box(result), SUBJECT_BOX)
    assert decode(result.data).getpixel((60, 40)) == (220, 220, 220, 255)


def test_grey_with_alpha_keeps_its_transparency(engine):
    grey = Image.new("LA", (120, 80), (220, 255))
    ImageDraw.Draw(grey).rectangle((0, 0, 59, 79), fill=(220, 0))  # left half transparent
    result = run(encode(grey), engine)
    assert_near(opaque_box(result), (60, 0, 120, 80))


def test_16_bit_grey_is_scaled_not_clipped(engine):
    pixels = np.full((80, 120), 5000, dtype=np.uint16)
    pixels[20:60, 30:90] = 60000
    result = run(encode(Image.fromarray(pixels)), engine)
    assert_near(opaque_box(result), SUBJECT_BOX)
    assert decode(result.data).getpixel((60, 40)) == (233, 233, 233, 255)


def test_rgba_input_alpha_limits_the_cutout(engine):
    image = subject_image().convert("RGBA")
    ImageDraw.Draw(image).rectangle((0, 0, 59, 79), fill=(*SUBJECT, 0))  # left half: red but transparent
    result = run(encode(image), engine)
    assert_near(opaque_box(result), (60, 20, 90, 60))
