"""Benchmark (not a test): latency and memory of the configurations that ship, side by side in one run.

(L) onnxruntime's bare forward pass of the model, default options, every core: this machine's limit.
(R) `rembg.remove(data, session=...)` with one reused rembg session and its default PNG.
(M) `make run` as it starts by default: run.py in an empty directory (SQLite, the in-process queue,
    worker threads and inference threads from the cores, waitress), photos through the REST API.
(C) docker-compose's worker: `python -m worker` with the worker's environment from
    docker-compose.yml over .env.example's values, PostgreSQL and RabbitMQ, behind
    `python -m admin_panel` (gunicorn, as compose runs the panel), photos through the same API.

"lone": one photo at a time, from the submit request until the result is downloaded; the client
keeps its connection open, as HTTP client libraries do, and waits for the result with
GET /api/v1/jobs/<id>?wait=20 (asking again after Retry-After when the server has no waiting
slot free). "8 at once": eight photos submitted together by eight clients, the makespan divided
by 8. (Polling instead, every 50 ms, cost the server 20 requests per photo, CPU that inference
on the same two cores needed, and half an interval before the client noticed: 40-70 ms more
per lone photo.)

The same photos (scikit-image's astronaut, chelsea and coffee upscaled to about 1 and 12 MP,
JPEG) and the same model file (`make model`) for all four; each runs in a process of its own,
whose resident memory is reported at rest (model loaded, two photos done) and at peak (VmHWM at
the end).

    .venv/bin/python -m bench.latency     # needs TEST_DATABASE_URL, TEST_AMQP_URL and `make model`
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

from bench.client import at_once, cut_out
from bench.configurations import Compose, MakeRun, Service
from bench.pipeline import machine, photo_bytes
from bench.services import rss_mb

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ("astronaut", "chelsea", "coffee")


# --- (L) and (R): one model per child process, timed inside it ----------------------------------


def _serve(kind: str, model_path: str, conn) -> None:
    """Child process: load (L)'s or (R)'s model once, then time each photo it is sent."""
    sys.path.insert(0, str(ROOT))
    if kind == "L":
        import onnxruntime as ort
        from PIL import Image

        from worker.engine import ISNET, model_input

        options = ort.SessionOptions()
        options.intra_op_num_threads = len(os.sched_getaffinity(0))
        session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])

        def work(data: bytes) -> None:
            batch = model_input(Image.open(io.BytesIO(data)).convert("RGB"), ISNET)
            began.append(time.perf_counter())  # only the forward pass is timed
            session.run(None, {session.get_inputs()[0].name: batch})
    else:
        os.environ["U2NET_HOME"] = str(Path(model_path).parent)  # rembg takes custom files under its home
        from rembg import new_session, remove

        session = new_session("dis_custom", model_path=model_path)

        def work(data: bytes) -> None:
            began.append(time.perf_counter())
            remove(data, session=session)
    while True:
        data = conn.recv()
        if data is None:
            return
        began: list[float] = []
        work(data)
        conn.send(time.perf_counter() - began[0])


class Child:
    """(L) or (R) in a spawned process of its own."""

    def __init__(self, kind: str, model_path: str):
        self.kind = kind
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=_serve, args=(kind, model_path, child_conn), daemon=True)
        self.process.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def time(self, data: bytes) -> float:
        self.conn.send(data)
        return self.conn.recv()

    def close(self) -> None:
        self.conn.send(None)
        self.process.join(30)


# --- the run ------------------------------------------------------------------------------------


def memory_line(label: str, pids: list[int], rest: float) -> str:
    peak = sum(rss_mb(pid, "VmHWM") for pid in pids)
    return f"  {label:<34} rest {rest:6.0f} MB   peak {peak:6.0f} MB"


def run(args, model_path: Path) -> None:
    children = {kind: Child(kind, str(model_path)) for kind in ("L", "R")}
    services: list[Service] = []
    try:
        services = [MakeRun(), Compose(args.database_url, args.amqp_url, model_path, args.compose_storage)]
        make_run, compose = services
        print(f"(M) run.py: pid {make_run.processes['run.py'].pid}; (C) worker WORKER_THREADS="
              f"{compose.worker_threads}, cpus {compose.cpus or 'unlimited'} (this machine: "
              f"{len(os.sched_getaffinity(0))} cores), mem_limit {compose.mem_limit or 'none'}, files in "
              f"{args.compose_storage}", flush=True)
        warm_up(children, services, 1.0)
        rest = {"L": rss_mb(children["L"].pid), "R": rss_mb(children["R"].pid)}
        for service in services:
            for label, pids in service.pids().items():
                rest[f"{service.name} {label}"] = sum(rss_mb(pid) for pid in pids)
        results = {}
        for megapixels in args.sizes:
            results[megapixels] = measure_size(megapixels, children, make_run, compose, args)
        report(results, children, services, rest)
    finally:
        for child in children.values():
            child.close()
        for service in services:
            service.stop()


def warm_up(children: dict, services: list[Service], megapixels: float) -> None:
    """Two untimed photos of this size through each configuration: first-call set-up is not measured."""
    data = photo_bytes(PHOTOS[0], megapixels)[0]
    for _ in range(2):
        for child in children.values():
            child.time(data)
        for service in services:
            cut_out(service.port, service.tokens[0], data)


def measure_size(megapixels: float, children: dict, make_run: Service, compose: Service, args) -> dict:
    uploads = [photo_bytes(name, megapixels)[0] for name in PHOTOS]
    warm_up(children, [make_run, compose], megapixels)
    lone = {key: [] for key in ("L", "R", "M", "C")}
    cpu = {key: [] for key in ("M", "C")}
    print(f"{megapixels:g} MP, lone (seconds per photo):", flush=True)
    for _ in range(args.repeats):
        for name, data in zip(PHOTOS, uploads, strict=True):
            times = {"L": children["L"].time(data), "R": children["R"].time(data)}
            for service in (make_run, compose):
                before = service.cpu()
                times[service.name] = cut_out(service.port, service.tokens[0], data)
                cpu[service.name].append(service.cpu() - before)
            for key, value in times.items():
                lone[key].append(value)
            print("  " + f"{name:<10}" + "  ".join(f"{key} {value:5.2f}" for key, value in times.items()), flush=True)
    batch = {"M": [], "C": []}
    for _ in range(args.batches):
        for service in (make_run, compose):
            batch[service.name].append(at_once(service.port, service.tokens, uploads))
        print(f"  8 at once, per photo: M {batch['M'][-1]:.2f}  C {batch['C'][-1]:.2f}", flush=True)
    return {"lone": {key: statistics.mean(values) for key, values in lone.items()},
            "batch": {key: statistics.mean(values) for key, values in batch.items()},
            "cpu": {key: statistics.mean(values) for key, values in cpu.items()}}


def report(results: dict, children: dict, services: list[Service], rest: dict) -> None:
    print("\nsummary (mean of all runs; ratios to (L) and (R) of the same size):")
    print("| size | figure | seconds per photo | ×L | ×R | target |")
    print("|------|--------|------------------:|---:|---:|--------|")
    for megapixels, figures in results.items():
        L, R = figures["lone"]["L"], figures["lone"]["R"]
        size = f"{megapixels:g} MP"
        rows = [("(L) bare forward pass", L, ""), ("(R) rembg.remove", R, "")]
        for key, label in (("M", "(M) make run"), ("C", "(C) compose worker")):
            lone_target = "≤ 0.95×R, ≤ 1.15×L" if megapixels == 1 else ("≤ 0.75×R" if megapixels == 12 else "")
            rows.append((f"{label}, lone", figures["lone"][key], lone_target))
            rows.append((f"{label}, 8 at once", figures["batch"][key], "≤ 1.10×L" if megapixels == 1 else ""))
        for label, value, target in rows:
            print(f"| {size} | {label} | {value:.2f} | {value / L:.2f} | {value / R:.2f} | {target} |")
        print(f"|  | CPU per lone photo: M {figures['cpu']['M']:.2f} s, C {figures['cpu']['C']:.2f} s | | | | |")
    print("\nresident memory of each process:")
    print(memory_line("(L) bare onnxruntime", [children["L"].pid], rest["L"]))
    print(memory_line("(R) rembg", [children["R"].pid], rest["R"]))
    for service in services:
        for label, pids in service.pids().items():
            print(memory_line(f"({service.name}) {label}" + (f" ({len(pids)} processes)" if len(pids) > 1 else ""),
                              pids, rest[f"{service.name} {label}"]))
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nload average at the end: {load}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--amqp-url", default=os.environ.get("TEST_AMQP_URL"))
    parser.add_argument("--sizes", default="1,12", help="megapixels, comma-separated")
    parser.add_argument("--repeats", type=int, default=2, help="lone runs of each photo")
    parser.add_argument("--batches", type=int, default=2, help="8-at-once runs of each configuration")
    parser.add_argument("--compose-storage", choices=("s3", "directory"), default="s3",
                        help="(C)'s files: s3 as compose ships them (moto's server standing in for MinIO), "
                             "or a directory as before")
    args = parser.parse_args()
    if not args.database_url or not args.amqp_url:
        parser.error("PostgreSQL and RabbitMQ are needed: set TEST_DATABASE_URL and TEST_AMQP_URL")
    args.sizes = [float(size) for size in args.sizes.split(",")]
    model_path = ROOT / "var" / "models" / "isnet-fp16-imgly.onnx"
    if not model_path.is_file():
        parser.error(f"no model at {model_path}: run `make model` first")
    print(f"machine: {machine()}")
    print(f"model: {model_path.relative_to(ROOT)} (ISNet, 1024² input) for L, R, M and C")
    print("command: " + " ".join([Path(sys.executable).name, "-m", "bench.latency", *sys.argv[1:]]), flush=True)
    run(args, model_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
