"""Benchmark (not a test): rembg.remove against the whole Cutout pipeline, and the worker's memory.

(a) `rembg.remove(data, session=...)` with a reused session and its default PNG output.
(b) The full path: jobs.submit_job on PostgreSQL, RabbitMQ, one `python -m worker` process
    (default settings: a listener and an inference thread per core), the result stored; timed
    from the submit call until the job reads `done`.
bench/latency.py compares the configurations that ship (make run, compose) through the API.
Both use the same ISNet model (`make model`) and the same photos from scikit-image, upscaled to
about 1 MP and 12 MP and saved as JPEG, run side by side (a then b for each photo). Then the
worker's RSS is read after warm-up images and again after 200 more.

    .venv/bin/python -m bench.pipeline            # needs TEST_DATABASE_URL and TEST_AMQP_URL
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import onnxruntime
import skimage.data
from PIL import Image

from bench.environment import Environment, Timing

PHOTOS = ("astronaut", "chelsea", "coffee")
MODES = ({"mode": "png"}, {"mode": "sticker"}, {"mode": "color", "bg_color": "#3366cc"}, {"mode": "mask"})


@dataclass
class Row:
    size: str
    photo: str
    pixels: str
    rembg: Timing
    pipeline: Timing
    inprocess: Timing | None = None

    @property
    def ratio(self) -> float:
        return self.pipeline.wall / self.rembg.wall

    @property
    def cpu_ratio(self) -> float:
        return self.pipeline.cpu / self.rembg.cpu


def median(runs: list[Timing]) -> Timing:
    return Timing(statistics.median(run.wall for run in runs), statistics.median(run.cpu for run in runs))


def photo_bytes(name: str, megapixels: float) -> tuple[bytes, tuple[int, int]]:
    """A scikit-image photo resized to about `megapixels`, as a JPEG upload."""
    image = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue(), image.size


def machine() -> str:
    """nproc, CPU model, load and versions, for the record."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if "model name" in line), platform.processor())
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"nproc {os.cpu_count()}, CPU {model}, load average at start {load}; Python {platform.python_version()}, "
        f"onnxruntime {onnxruntime.__version__}, Pillow {Image.__version__}"
    )


def rembg_session(model_settings):
    """The rembg session for (a): rembg's own new_session on the same model file, default options."""
    from rembg import new_session

    if model_settings.rembg_model_path:
        path = Path(model_settings.rembg_model_path).resolve()
        os.environ["U2NET_HOME"] = str(path.parent)  # rembg accepts custom files only under its home
        return new_session("dis_custom", model_path=str(path))
    os.environ["U2NET_HOME"] = str(Path(model_settings.model_dir).resolve())
    return new_session(model_settings.rembg_model)


def time_rembg(session, data: bytes) -> Timing:
    from rembg import remove

    began, cpu = time.perf_counter(), time.process_time()
    remove(data, session=session)
    return Timing(time.perf_counter() - began, time.process_time() - cpu)


def time_inprocess(session, data: bytes) -> Timing:
    """worker.pipeline.process_image alone, in this process: (b) without the queue, database and storage."""
    from core.options import JobOptions
    from worker.pipeline import process_image

    began, cpu = time.perf_counter(), time.process_time()
    process_image(data, JobOptions(), session, max_bytes=10**9, max_pixels=10**9)
    return Timing(time.perf_counter() - began, time.process_time() - cpu)


def compare(env: Environment, session, sizes: list[float], repeats: int, inprocess: bool) -> list[Row]:
    """(a) and (b) side by side for each photo and size; the median of `repeats` runs each."""
    rows = []
    for megapixels in sizes:
        uploads = {name: photo_bytes(name, megapixels) for name in PHOTOS}
        time_rembg(session, uploads[PHOTOS[0]][0])  # first-call set-up of this input size, not timed
        env.run_job(uploads[PHOTOS[0]][0])
        for name, (data, (width, height)) in uploads.items():
            a_runs, b_runs, c_runs = [], [], []
            for _ in range(repeats):
                a_runs.append(time_rembg(session, data))
                b_runs.append(env.run_job(data))
                if inprocess:
                    c_runs.append(time_inprocess(session, data))
            row = Row(f"{megapixels:g} MP", name, f"{width}x{height}", median(a_runs), median(b_runs))
            row.inprocess = median(c_runs) if c_runs else None
            print(describe(row), flush=True)
            rows.append(row)
    return rows


def describe(row: Row) -> str:
    """One line per photo: wall-clock and CPU seconds of (a) and (b), and their ratios."""
    line = (
        f"  {row.size:>6} {row.photo:<10} {row.pixels:>10}  a {row.rembg.wall:6.2f} s  b {row.pipeline.wall:6.2f} s"
        f"  b/a {row.ratio:.2f}  |  CPU a {row.rembg.cpu:6.2f} s  b {row.pipeline.cpu:6.2f} s  b/a {row.cpu_ratio:.2f}"
    )
    if row.inprocess:
        line += f"\n  {'':>29}  process_image alone {row.inprocess.wall:6.2f} s, CPU {row.inprocess.cpu:6.2f} s"
    return line


def memory(env: Environment, warmup: int, count: int) -> tuple[float, float, float]:
    """Worker RSS (MB) after `warmup` small images, after `count` more, and the peak seen."""
    uploads = [photo_bytes(name, 0.3)[0] for name in PHOTOS]
    baseline = peak = 0.0
    for number in range(warmup + count):
        env.run_job(uploads[number % len(uploads)], MODES[number % len(MODES)])
        rss = env.worker_rss_mb()
        peak = max(peak, rss)
        if number + 1 == warmup:
            baseline = peak = rss
        if (number + 1) % 50 == 0:
            print(f"  after {number + 1} images: worker RSS {rss:.0f} MB", flush=True)
    return baseline, env.worker_rss_mb(), peak


def summary(rows: list[Row]) -> None:
    for size in dict.fromkeys(row.size for row in rows):
        chosen = [row for row in rows if row.size == size]
        a, b = sum(row.rembg.wall for row in chosen), sum(row.pipeline.wall for row in chosen)
        a_cpu, b_cpu = sum(row.rembg.cpu for row in chosen), sum(row.pipeline.cpu for row in chosen)
        print(
            f"  {size}: wall a {a / len(chosen):.2f} s, b {b / len(chosen):.2f} s per image, b/a {b / a:.2f}; "
            f"CPU a {a_cpu / len(chosen):.2f} s, b {b_cpu / len(chosen):.2f} s, b/a {b_cpu / a_cpu:.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--amqp-url", default=os.environ.get("TEST_AMQP_URL"))
    parser.add_argument("--sizes", default="1,12", help="megapixels, comma-separated")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20, help="images before the memory baseline")
    parser.add_argument("--memory-images", type=int, default=200, help="0 skips the memory part")
    parser.add_argument("--in-process", action="store_true", help="also time process_image alone, in this process")
    args = parser.parse_args()
    if not args.database_url or not args.amqp_url:
        parser.error("PostgreSQL and RabbitMQ are needed: set TEST_DATABASE_URL and TEST_AMQP_URL")

    from core.settings import load_settings
    from worker.model_fetch import usable_model

    model_settings = usable_model(load_settings())
    if model_settings is None:
        parser.error("no model: run `make model` first")
    print(f"machine: {machine()}")
    print(f"model: {model_settings.rembg_model_path or model_settings.rembg_model}")
    print("command: " + " ".join([Path(sys.executable).name, "-m", "bench.pipeline", *sys.argv[1:]]))
    session = rembg_session(model_settings)
    with Environment(args.database_url, args.amqp_url, model_settings) as env:
        print("(a) rembg.remove, reused session, default PNG  |  (b) submit_job -> RabbitMQ -> worker -> stored")
        rows = compare(env, session, [float(size) for size in args.sizes.split(",")], args.repeats, args.in_process)
        print("summary (mean per image):")
        summary(rows)
        if args.memory_images:
            print(f"memory: {args.warmup} warm-up images, then {args.memory_images} more (0.3 MP, all modes)")
            baseline, final, peak = memory(env, args.warmup, args.memory_images)
            print(
                f"  worker RSS {baseline:.0f} MB after warm-up, {final:.0f} MB after {args.memory_images} more "
                f"(peak {peak:.0f} MB): growth {final - baseline:+.0f} MB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
