"""The image pipeline's output side with the tiny model: the mask's range, PNG, sticker, colour and mask modes, crop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from core import render as pipeline
from tests.support.images import BACKGROUND, SUBJECT, decode, encode, subject_image
from tests.support.pipeline import alpha_of, assert_near, opaque_box, run
from worker.engine import stretch

# --- the mask ----------------------------------------------------------------------------------


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
    monkeypatch.setattr(pipeline, "encode_png", lambda image, icc=None: encoded.append(image.mode) or real(image, icc))
    result = run(encode(subject_image()), engine, **options)
    assert encoded == [image_mode, "L"]  # the result, then the mask kept for re-renders
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


# --- crop --------------------------------------------------------------------------------------


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
