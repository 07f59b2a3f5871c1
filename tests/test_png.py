"""The worker's PNG encoder: exact pixels in every mode and size, slices deflated in parallel."""

from __future__ import annotations

import io
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import skimage.data
from PIL import Image

from core import png
from core.png import encode_png
from tests.support.images import decode

SHAPES = {"L": lambda h, w: (h, w), "RGB": lambda h, w: (h, w, 3), "RGBA": lambda h, w: (h, w, 4)}


def random_image(mode: str, height: int, width: int, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, SHAPES[mode](height, width), dtype=np.uint8)
    pixels[: height // 3] = 0  # a run of background, as a cut-out has
    return Image.fromarray(pixels, mode)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize(("height", "width"), [(1, 1), (1, 9), (9, 1), (37, 53), (700, 900)])
def test_every_pixel_comes_back_exactly(mode, height, width):
    image = random_image(mode, height, width)
    back = decode(encode_png(image))
    assert (back.mode, back.size) == (mode, (width, height))
    assert np.array_equal(np.asarray(back), np.asarray(image))


def test_slices_deflated_in_parallel_join_into_one_valid_stream(monkeypatch):
    monkeypatch.setattr(png, "MIN_SLICE", 4096)
    monkeypatch.setattr(png, "_pool", (ThreadPoolExecutor(max_workers=4), 4))
    compressors = []
    real = zlib.compressobj
    monkeypatch.setattr(png.zlib, "compressobj", lambda *a, **k: compressors.append(k) or real(*a, **k))
    image = random_image("RGBA", 300, 200, seed=1)
    data = encode_png(image)
    assert len(compressors) == 4
    assert sum("zdict" in kwargs for kwargs in compressors) == 3  # each later slice primed by the one before
    assert np.array_equal(np.asarray(decode(data)), np.asarray(image))


def test_the_file_is_well_formed_for_strict_readers():
    data = encode_png(random_image("RGB", 40, 30))
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")
    position, kinds = 8, []
    while position < len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind, payload = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        crc = int.from_bytes(data[position + 8 + length:position + 12 + length], "big")
        assert zlib.crc32(kind + payload) == crc, kind
        kinds.append(kind)
        position += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


@pytest.mark.parametrize("size", [(0, 5), (5, 0)])
def test_an_image_without_pixels_is_refused(size):
    with pytest.raises(ValueError, match="at least one pixel"):
        encode_png(Image.new("RGB", size))


@pytest.mark.parametrize("mode", ["P", "CMYK", "I;16", "LA"])
def test_other_modes_are_refused(mode):
    with pytest.raises(ValueError, match="L, RGB or RGBA"):
        encode_png(Image.new(mode, (4, 4)))


def test_a_photo_cut_out_compresses_close_to_pillows_fastest_png():
    photo = Image.fromarray(skimage.data.astronaut())
    mask = Image.new("L", photo.size, 0)
    mask.paste(255, (100, 50, 400, 512))
    cutout = Image.new("RGBA", photo.size)
    cutout.paste(photo, mask=mask)
    cutout.putalpha(mask)
    pillow = io.BytesIO()
    cutout.save(pillow, "PNG", compress_level=1, compress_type=zlib.Z_RLE)
    assert len(encode_png(cutout)) <= 1.35 * len(pillow.getvalue())
