"""Benchmark (not a test): a transparent result as PNG (core.png, the default) against lossless
WebP (format=webp, the settings that ship: core.render.WEBP_LOSSLESS), side by side on the same
cut-outs, and what a wide-gamut photo's sRGB sticker costs over an untagged one.

The cut-outs are real: scikit-image's photos at about 1 and 12 megapixels, masked by the ISNet
model from `make model` through worker.pipeline (the configuration a worker runs). For each one,
PNG then WebP are encoded `--repeats` times, alternating; the medians and the size ratio are
printed as a Markdown table for docs/benchmarks.md.

    .venv/bin/python -m bench.formats --sizes 1,12 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from bench.pipeline import machine, photo_bytes
from core.options import JobOptions
from core.render import WEBP_LOSSLESS, encode, open_photo, sticker, transparent
from tests.support.icc import adobe_rgb_profile
from tests.test_real_model import find_real_model
from worker.engine import load_engine

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
LIMITS = {"max_bytes": 10**9, "max_pixels": 10**9}
STICKER = JobOptions(mode="sticker")
ADOBE = adobe_rgb_profile()


def timed(make, *args) -> tuple[float, bytes]:
    began = time.perf_counter()
    data = make(*args)
    return time.perf_counter() - began, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,12", help="megapixels, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    settings = find_real_model(Path(tempfile.mkdtemp()))
    if settings is None:
        raise SystemExit("the ISNet model is missing: run `make model`")
    engine = load_engine(settings)
    print(machine(), f"WebP settings {WEBP_LOSSLESS}\n")
    print("| size | photo | PNG | WebP | WebP/PNG size | PNG time | WebP time | WebP/PNG time |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    sticker_rows = []
    for megapixels in (float(size) for size in args.sizes.split(",")):
        sizes, times = [], []
        for name in PHOTOS:
            data, _ = photo_bytes(name, megapixels)
            photo = open_photo(data, **LIMITS)
            cutout = transparent(photo.rgb, engine.predict_mask(photo.rgb))
            png_runs, webp_runs = [], []
            for _ in range(args.repeats):
                png_time, png = timed(encode, cutout, "PNG")
                webp_time, webp = timed(encode, cutout, "WEBP")
                png_runs.append(png_time)
                webp_runs.append(webp_time)
            png_time, webp_time = statistics.median(png_runs), statistics.median(webp_runs)
            sizes.append(len(webp) / len(png))
            times.append(webp_time / png_time)
            print(f"| {megapixels:g} MP | {name} | {len(png) / 1e3:.0f} KB | {len(webp) / 1e3:.0f} KB | "
                  f"{sizes[-1]:.2f} | {png_time * 1e3:.0f} ms | {webp_time * 1e3:.0f} ms | {times[-1]:.1f} |")
            plain, wide = [], []
            for _ in range(args.repeats):
                plain.append(timed(sticker, cutout, STICKER)[0])
                wide.append(timed(sticker, cutout, STICKER, ADOBE)[0])
            sticker_rows.append((megapixels, name, statistics.median(plain), statistics.median(wide)))
        print(f"| {megapixels:g} MP | **mean** | | | **{statistics.mean(sizes):.2f}** | | | "
              f"**{statistics.mean(times):.1f}** |")
    print("\n| size | photo | sticker, untagged | sticker, Adobe RGB → sRGB | ratio |")
    print("|---|---|---:|---:|---:|")
    for megapixels, name, plain, wide in sticker_rows:
        print(f"| {megapixels:g} MP | {name} | {plain * 1e3:.0f} ms | {wide * 1e3:.0f} ms | {wide / plain:.2f} |")


if __name__ == "__main__":
    Image.MAX_IMAGE_PIXELS = None
    main()
