"""The image pipeline with a tiny ONNX model loaded by the worker's engine.

The tiny model (tests/support/tiny_model.py) calls bright or red pixels the subject, so the
test images are a red rectangle on a dark background unless a test needs something else.
"""

from __future__ import annotations

import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from core.errors import ImageTooLarge, InvalidImage
from core.options import JobOptions
from tests.conftest import make_settings
from tests.support.images import BACKGROUND, SUBJECT, decode, encode, subject_image
from worker import pipeline
from worker.engine import load_engine, stretch
from worker.pipeline import process_image

LIMITS = {"max_bytes": 20 * 1024 * 1024, "max_pixels": 40_000_000}
# The subject of subject_image((120, 80)): the middle half.
SUBJECT_BOX = (30, 20, 90, 60)


@pytest.fixture(scope="module")
def engine(tiny_model_path, tmp_path_factory):
    """One engine for the module, as a worker process has."""
    return load_engine(make_settings(tmp_path_factory.mktemp("pipeline"), rembg_model_path=tiny_model_path))


def run(data: bytes, engine, limits=LIMITS, **options):
    return process_image(data, JobOptions(**options), engine, **limits)


def alpha_of(result) -> np.ndarray:
    return np.asarray(decode(result.data).getchannel("A"))


def opaque_box(result) -> tuple[int, int, int, int]:
    """Bounding box of the clearly opaque pixels of an RGBA result."""
    return Image.fromarray(((alpha_of(result) > 128) * 255).astype(np.uint8)).getbbox()


def assert_near(box, expected, tolerance=2):
    assert all(abs(a - b) <= tolerance for a, b in zip(box, expected, strict=True)), (box, expected)


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


def test_uniform_image_gives_a_flat_mask_without_nan(engine):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's divide-by-zero RuntimeWarning included
        dark = alpha_of(run(encode(Image.new("RGB", (120, 80), BACKGROUND)), engine))
        bright = alpha_of(run(encode(Image.new("RGB", (120, 80), SUBJECT)), engine))
    assert np.ptp(dark) == 0  # the model's own flat opinion, not noise stretched to 0..255
    assert bright.min() > 247  # all subject: opaque


def test_flat_prediction_is_not_stretched():
    flat = np.full((4, 4), 0.3, dtype=np.float32)
    flat[0, 0] = 0.31
    assert np.allclose(stretch(flat), flat)
    assert not np.isnan(stretch(np.full((4, 4), 0.7, dtype=np.float32))).any()


def test_contrasting_prediction_is_stretched_to_full_range():
    prediction = np.array([[0.1, 0.5], [0.9, 0.3]], dtype=np.float32)
    assert stretch(prediction).min() == 0.0
    assert stretch(prediction).max() == 1.0


# --- output modes ------------------------------------------------------------------------------


def test_png_mode_is_full_resolution_rgba_with_transparent_background(engine):
    result = run(encode(subject_image((120, 80))), engine)
    image = decode(result.data)
    assert (result.content_type, image.format, image.mode, image.size) == ("image/png", "PNG", "RGBA", (120, 80))
    assert (result.width, result.height) == (120, 80)
    assert image.getpixel((60, 40)) == (*SUBJECT, 255)
    assert image.getpixel((5, 5)) == (0, 0, 0, 0)


@pytest.mark.parametrize(("options", "image_mode"), [({}, "RGBA"), ({"mode": "color", "bg_color": "#ffffff"}, "RGB"),
                                                   ({"mode": "mask"}, "L")])
def test_png_outputs_go_through_the_parallel_encoder(engine, monkeypatch, options, image_mode):
    encoded = []
    real = pipeline.encode_png
    monkeypatch.setattr(pipeline, "encode_png", lambda image: encoded.append(image.mode) or real(image))
    result = run(encode(subject_image()), engine, **options)
    assert encoded == [image_mode]
    assert decode(result.data).mode == image_mode


@pytest.mark.parametrize(
    ("size", "expected"), [((1200, 800), (512, 341)), ((300, 900), (171, 512)), ((64, 64), (512, 512))]
)
def test_sticker_is_webp_with_longest_side_512(engine, size, expected):
    result = run(encode(subject_image(size)), engine, mode="sticker")
    image = decode(result.data)
    assert (result.content_type, image.format, image.size) == ("image/webp", "WEBP", expected)
    assert (result.width, result.height) == expected
    assert image.mode == "RGBA" and image.getpixel((2, 2))[3] == 0
    assert len(result.data) <= 512 * 1024


def test_sticker_lowers_quality_until_it_fits(engine, monkeypatch):
    rng = np.random.default_rng(7)
    noisy = Image.fromarray(rng.integers(150, 256, (600, 600, 3), dtype=np.uint8))
    default = run(encode(noisy), engine, mode="sticker")
    limit = len(default.data) - 1
    monkeypatch.setattr(pipeline, "STICKER_MAX_BYTES", limit)
    smaller = run(encode(noisy), engine, mode="sticker")
    assert len(smaller.data) <= limit
    assert decode(smaller.data).size == (512, 512)


def test_color_mode_puts_subject_on_the_colour_as_png(engine):
    result = run(encode(subject_image()), engine, mode="color", bg_color="#00ff80")
    image = decode(result.data)
    assert (result.content_type, image.format, image.mode) == ("image/png", "PNG", "RGB")
    assert image.getpixel((5, 5)) == (0, 255, 128)
    assert image.getpixel((60, 40)) == SUBJECT


def test_color_mode_can_be_jpeg(engine):
    result = run(encode(subject_image()), engine, mode="color", bg_color="#0000ff", format="jpeg")
    image = decode(result.data)
    assert (result.content_type, image.format, image.size) == ("image/jpeg", "JPEG", (120, 80))
    red, green, blue = image.getpixel((5, 5))
    assert blue > 240 and red < 15 and green < 15


def test_mask_mode_is_greyscale_png(engine):
    result = run(encode(subject_image()), engine, mode="mask")
    image = decode(result.data)
    assert (result.content_type, image.format, image.mode, image.size) == ("image/png", "PNG", "L", (120, 80))
    assert image.getpixel((60, 40)) == 255
    assert image.getpixel((5, 5)) == 0


def test_crop_keeps_the_subject_and_the_margin(engine):
    result = run(encode(subject_image((120, 80))), engine, crop=True, margin=10)
    # The subject is 60x40 at (30, 20); 10% of that on each side is 6 and 4 px.
    assert abs(result.width - 72) <= 2 and abs(result.height - 48) <= 2
    assert_near(opaque_box(result), (6, 4, 66, 44))


def test_crop_without_margin_is_the_subject(engine):
    result = run(encode(subject_image((120, 80))), engine, crop=True, margin=0)
    assert abs(result.width - 60) <= 2 and abs(result.height - 40) <= 2


def test_crop_margin_stops_at_the_image_edge(engine):
    result = run(encode(subject_image((120, 80), box=(0, 0, 59, 39))), engine, crop=True, margin=50)
    # 50% of the 60x40 subject is 30x20 px, cut off at the top and left edges.
    assert_near((result.width, result.height), (90, 60))


def test_crop_of_an_image_without_subject_keeps_the_whole_image(engine):
    result = run(encode(Image.new("RGB", (120, 80), BACKGROUND)), engine, crop=True)
    assert (result.width, result.height) == (120, 80)


def test_crop_applies_to_the_mask_mode(engine):
    result = run(encode(subject_image((120, 80))), engine, mode="mask", crop=True, margin=0)
    assert decode(result.data).mode == "L"
    assert abs(result.width - 60) <= 2 and abs(result.height - 40) <= 2


def test_crop_applies_to_the_sticker(engine):
    result = run(encode(subject_image((1200, 800), box=(0, 0, 299, 599))), engine, mode="sticker", crop=True, margin=0)
    assert (result.width, result.height) == (256, 512)
