"""Every photo people send, back in its own colours: HEIC (primary image, upright), AVIF and the
first frame of an animation go through the pipeline and the API; every PNG, WebP and JPEG
result carries the photo's ICC profile byte for byte; stickers and page previews are converted
to sRGB with it; no output carries EXIF; the lists of formats agree everywhere."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
import skimage.data
from PIL import Image, ImageCms, ImageFile

from admin_panel.openapi import document as openapi_document
from bot.texts import formats
from core import jobs, previews
from core.errors import ImageTooLarge
from core.images import ACCEPTED_FORMATS, FORMAT_LABELS, FORMAT_NAMES, NOT_READABLE, inspect_image
from core.removebg import parse_params, render
from tests.support.icc import adobe_rgb_profile
from tests.support.images import decode, encode
from tests.support.panel import Panel
from tests.support.pipeline import LIMITS, run
from worker.handler import JobHandler

ROOT = Path(__file__).resolve().parent.parent
ADOBE = adobe_rgb_profile()
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
GPS_LATITUDE = (48.0, 51.0, 29.55)


def photo(size=(240, 160)) -> Image.Image:
    """A subject the tiny model sees (red, its green and blue shading across it) on dark blue."""
    width, height = size
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[...] = (10, 20, 90)
    ys, xs = np.mgrid[height // 4:height * 3 // 4, width // 4:width * 3 // 4]
    pixels[ys, xs, 0] = 220
    pixels[ys, xs, 1] = 40 + (xs - width // 4) * 120 // (width // 2)
    pixels[ys, xs, 2] = 60 + (ys - height // 4) * 100 // (height // 2)
    return Image.fromarray(pixels)


def with_gps() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif[0xA431] = "SERIAL-1234"  # BodySerialNumber
    exif.get_ifd(0x8825).update({1: "N", 2: GPS_LATITUDE})
    return exif


def adobe_jpeg(image: Image.Image | None = None) -> bytes:
    """A camera JPEG in Adobe RGB, with the place it was taken and the camera's serial in EXIF."""
    return encode(image or photo(), "JPEG", quality=95, icc_profile=ADOBE, exif=with_gps())


def profile_of(data: bytes) -> bytes | None:
    return decode(data).info.get("icc_profile")


def assert_no_metadata(data: bytes) -> None:
    image = decode(data)
    assert not image.getexif() and "exif" not in image.info and "xmp" not in image.info, image.info.keys()
    assert b"SERIAL-1234" not in data and b"Exif\x00\x00" not in data


def srgb_of(image: Image.Image, icc: bytes) -> Image.Image:
    return ImageCms.profileToProfile(image, ImageCms.ImageCmsProfile(io.BytesIO(icc)), SRGB, outputMode="RGB")


# --- colour: the profile travels, or the pixels are converted ---


@pytest.mark.parametrize(("options", "kind"), [
    ({}, "PNG"), ({"format": "webp"}, "WEBP"), ({"mode": "color", "bg_color": "#ffffff"}, "PNG"),
    ({"mode": "color", "format": "jpeg"}, "JPEG"), ({"mode": "color", "format": "webp"}, "WEBP"),
    ({"crop": True}, "PNG"),
])
def test_every_file_that_can_carry_a_profile_carries_the_photos_byte_for_byte_and_no_exif(engine, options, kind):
    result = run(adobe_jpeg(), engine, **options)
    assert decode(result.data).format == kind
    assert profile_of(result.data) == ADOBE
    assert_no_metadata(result.data)


def test_the_sticker_is_the_photos_colours_in_srgb(engine):
    original = photo((480, 320))
    result = run(adobe_jpeg(original), engine, mode="sticker")
    sticker = decode(result.data)
    assert sticker.format == "WEBP" and profile_of(result.data) is None
    assert_no_metadata(result.data)
    seen = decode(adobe_jpeg(original))  # the JPEG's own pixels, as the pipeline got them
    expected = np.asarray(srgb_of(seen, ADOBE).resize(sticker.size, Image.Resampling.LANCZOS), np.float64)
    unconverted = np.asarray(seen.resize(sticker.size, Image.Resampling.LANCZOS), np.float64)
    rgba = np.asarray(sticker.convert("RGBA"), np.float64)
    opaque = rgba[..., 3] == 255
    assert opaque.sum() > 10_000
    difference = np.abs(rgba[..., :3] - expected)[opaque].mean()
    shift = np.abs(rgba[..., :3] - unconverted)[opaque].mean()
    assert difference < 2, difference
    assert shift > 5, shift  # what a sticker of the raw numbers, shown as sRGB, would be off by


def test_a_picked_colour_looks_the_same_behind_a_wide_gamut_photo(engine):
    result = run(adobe_jpeg(), engine, mode="color", bg_color="#3366cc")
    corner = decode(result.data).convert("RGB").crop((0, 0, 1, 1))
    assert srgb_of(corner, ADOBE).getpixel((0, 0)) == pytest.approx((0x33, 0x66, 0xCC), abs=1)
    assert corner.getpixel((0, 0)) != (0x33, 0x66, 0xCC)  # the numbers are Adobe RGB's


@pytest.mark.parametrize("broken", [b"not a colour profile at all" * 10, ADOBE[:-24]],
                         ids=["garbage", "truncated"])
def test_a_broken_profile_counts_as_srgb_with_a_log_line_never_a_failure(engine, caplog, broken):
    data = encode(photo(), "JPEG", icc_profile=broken)
    with caplog.at_level(logging.WARNING, logger="core.colour"):
        png, sticker = run(data, engine), run(data, engine, mode="sticker")
    assert profile_of(png.data) is None and decode(sticker.data).format == "WEBP"  # never carried half-read
    assert "colour profile unreadable" in caplog.text


def test_a_cmyk_photo_comes_back_rgb_and_untagged(engine):
    cmyk = ImageCms.profileToProfile(photo(), SRGB, ImageCms.ImageCmsProfile(io.BytesIO(ADOBE)),
                                     outputMode="RGB").convert("CMYK")  # any CMYK photo, no profile
    result = run(encode(cmyk, "JPEG"), engine)
    assert decode(result.data).mode == "RGBA" and profile_of(result.data) is None


# --- inputs: HEIC, AVIF, animations ---


def heic(image: Image.Image, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "HEIF", quality=90, **params)
    return buffer.getvalue()


def test_an_iphone_heic_is_cut_out_upright_in_its_own_colours(engine):
    turned = Image.Exif()
    turned[0x0112] = 6  # shown turned a quarter clockwise, as a phone held upright stores it
    data = heic(photo((240, 160)), icc_profile=ADOBE, exif=turned.tobytes())
    assert inspect_image(data, **LIMITS).format == "HEIF"
    result = run(data, engine)
    cutout = decode(result.data)
    assert cutout.size == (160, 240)  # upright: turned once, by the container, not twice
    assert profile_of(result.data) == ADOBE
    alpha = np.asarray(cutout.getchannel("A"))
    assert alpha[120, 80] == 255 and alpha[5, 5] == 0


def test_a_heic_with_several_images_gives_its_primary_one(engine):
    container = pillow_heif.from_pillow(Image.new("RGB", (64, 48), (10, 20, 90)))
    container.add_from_pillow(photo((200, 100)))
    buffer = io.BytesIO()
    container.save(buffer, primary_index=1, quality=90)
    assert inspect_image(buffer.getvalue(), **LIMITS).width == 200
    assert decode(run(buffer.getvalue(), engine).data).size == (200, 100)


def test_an_avif_is_read_with_its_profile(engine):
    data = encode(photo(), "AVIF", quality=90, icc_profile=ADOBE)
    assert inspect_image(data, **LIMITS).format == "AVIF"
    result = run(data, engine)
    assert profile_of(result.data) == ADOBE and decode(result.data).size == (240, 160)


@pytest.mark.parametrize("kind", ["GIF", "WEBP", "PNG", "AVIF"])
def test_an_animation_gives_its_first_frame(engine, kind):
    first, later = photo((120, 80)), Image.new("RGB", (120, 80), (10, 20, 90))
    data = encode(first, kind, save_all=True, append_images=[later, later], duration=100)
    assert inspect_image(data, **LIMITS).animated
    alpha = np.asarray(decode(run(data, engine).data).getchannel("A"))
    assert alpha[40, 60] == 255  # the subject of the first frame; the later ones have none


@pytest.mark.parametrize("kind", ["HEIF", "AVIF"])
def test_the_pixel_limit_refuses_a_new_format_from_its_header(kind, monkeypatch):
    data = heic(photo((1600, 1000))) if kind == "HEIF" else encode(photo((1600, 1000)), "AVIF")
    decoded = []
    for decoder in (ImageFile.ImageFile, pillow_heif.as_plugin._LibHeifImageFile):
        monkeypatch.setattr(decoder, "load", lambda self: decoded.append(self))
    with pytest.raises(ImageTooLarge, match="1600x1000"):
        inspect_image(data, max_bytes=10**8, max_pixels=1_000_000)
    assert decoded == []  # refused before a single pixel was decoded


def test_a_still_image_is_not_called_an_animation():
    assert not inspect_image(encode(photo(), "PNG"), **LIMITS).animated
    assert not inspect_image(heic(photo()), **LIMITS).animated


# --- through the API, and every other output ---


@pytest.fixture
def panel(sqlite_settings):
    return Panel.build(sqlite_settings)


def do_job(panel, engine, job_id: str):
    JobHandler(panel.settings, panel.queue, panel.storage, engine, stop=None)({"job_id": job_id})
    return jobs.get_job(job_id)


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("IMG_0001.HEIC", lambda: heic(photo(), icc_profile=ADOBE), ("HEIF", False)),
    ("pixel.avif", lambda: encode(photo(), "AVIF", quality=90, icc_profile=ADOBE), ("AVIF", False)),
    ("wave.gif", lambda: encode(photo(), "GIF", save_all=True, append_images=[photo().rotate(180)]), ("GIF", True)),
])
def test_new_formats_go_through_the_api(panel, engine, name, data, expected):
    user = panel.user()
    response = panel.submit(user, data=data(), name=name, format="webp")
    assert response.status_code == 202, response.get_json()
    job = do_job(panel, engine, response.get_json()["id"])
    body = panel.client.get(f"/api/v1/jobs/{job.id}", headers=panel.auth(user)).get_json()
    assert (body["status"], body["input_format"], body["first_frame_only"]) == ("done", *expected)
    result = panel.client.get(f"/api/v1/jobs/{job.id}/result?download=1", headers=panel.auth(user))
    assert result.mimetype == "image/webp" and result.headers["Content-Disposition"].endswith('-cutout.webp"')
    assert profile_of(result.data) == (None if expected[0] == "GIF" else ADOBE)


def test_no_output_anywhere_carries_exif_and_page_previews_are_srgb(panel, engine):
    user = panel.user(credits=5)
    job = do_job(panel, engine, panel.job(user, data=adobe_jpeg()).id)
    files = {"result": panel.storage.get(job.output_key),
             "thumbnail": previews.thumbnail(job.id, user.id, panel.storage),
             "original": previews.original(job.id, user.id, panel.storage)}
    for changes in ({"mode": "color", "format": "jpeg"}, {"format": "webp"}, {"mode": "sticker"}):
        response = panel.client.post(f"/api/v1/jobs/{job.id}/render", json=changes, headers=panel.auth(user))
        assert response.status_code == 200, response.get_json()
        files[str(changes)] = response.data
    for name, data in files.items():
        assert_no_metadata(data)
        expected = None if name in ("thumbnail", "original", "{'mode': 'sticker'}") else ADOBE
        assert profile_of(data) == expected, name
    thumbnail = decode(files["thumbnail"]).convert("RGBA")
    subject = thumbnail.getpixel((thumbnail.width // 2, thumbnail.height // 2))
    assert subject[3] == 255 and subject[0] > 225  # Adobe's red 220, shown in sRGB, is redder


def test_the_removebg_endpoint_keeps_the_profile_and_drops_exif(engine):
    data = adobe_jpeg()
    mask = engine.predict_mask(decode(data).convert("RGB"))
    from core.render import encode_mask

    for fields, member in (({"format": "png"}, None), ({"format": "jpg"}, None), ({"format": "webp"}, None),
                           ({"format": "zip"}, "color.jpg")):
        output = render(data, encode_mask(mask), parse_params({"size": "full", **fields}), **LIMITS)
        file = zipfile.ZipFile(io.BytesIO(output.data)).read(member) if member else output.data
        assert profile_of(file) == ADOBE, fields
        assert_no_metadata(file)


def test_webp_is_lossless_and_smaller_than_png_for_a_real_photo(engine):
    astronaut = encode(Image.fromarray(skimage.data.astronaut()), "PNG")
    png, webp = run(astronaut, engine), run(astronaut, engine, format="webp")
    expected, got = np.asarray(decode(png.data)), np.asarray(decode(webp.data).convert("RGBA"))
    seen = expected[..., 3] > 0  # under a fully transparent pixel, the colour is nothing anyone sees
    assert np.array_equal(expected[..., 3], got[..., 3]) and np.array_equal(expected[seen], got[seen])
    assert len(webp.data) < len(png.data) * 0.9, (len(webp.data), len(png.data))


def test_webp_refuses_a_photo_wider_than_it_can_hold_before_charging(panel):
    user = panel.user()
    wide = encode(Image.new("RGB", (16_400, 10), (220, 40, 40)), "PNG")
    response = panel.submit(user, data=wide, format="webp")
    assert response.status_code == 400 and "WebP holds at most 16383 px" in response.get_json()["message"]
    assert panel.client.get("/api/v1/me", headers=panel.auth(user)).get_json()["balance"]["total"] == 3


# --- one list of formats ---


def test_the_format_lists_agree_everywhere(panel):
    assert len(FORMAT_LABELS) == 8 and FORMAT_NAMES == "JPEG, PNG, WebP, HEIC, AVIF, BMP, TIFF or GIF"
    names = {"HEIC": "HEIF"}
    assert {names.get(label, label.upper()) for label in FORMAT_LABELS} <= ACCEPTED_FORMATS
    for label in FORMAT_LABELS:  # each one named is read, from a file made here
        image = photo((40, 30))
        data = heic(image) if label == "HEIC" else encode(image, label.upper())
        assert inspect_image(data, **LIMITS).format == names.get(label, label.upper())
    assert formats("en") == FORMAT_NAMES
    assert formats("ru") == "JPEG, PNG, WebP, HEIC, AVIF, BMP, TIFF или GIF"
    document = openapi_document()
    upload = document["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert FORMAT_NAMES in upload["schema"]["properties"]["image"]["description"]
    assert FORMAT_NAMES in (ROOT / "README.md").read_text()
    user = panel.user()
    panel.sign_in_browser(user)
    page = panel.client.get("/").get_data(as_text=True)
    assert f'data-not-readable="{NOT_READABLE}"' in page
    types = re.search(r'data-types="([^"]+)"', page).group(1).split()
    assert {"image/heic", "image/avif", "image/jpeg", "image/gif"} <= set(types)
    refused = panel.submit(user, data=b"%PDF-1.4 a document")
    assert refused.get_json()["message"] == NOT_READABLE


def test_unsupported_formats_name_the_list(panel):
    user = panel.user()
    response = panel.submit(user, data=encode(photo((40, 30)), "ICO"))
    assert response.status_code == 415
    assert response.get_json()["message"] == f"ICO images are not supported; send {FORMAT_NAMES}."
