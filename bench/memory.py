"""Benchmark (not a test): a worker's resident memory and speed under onnxruntime's memory options.

Each variant runs in a fresh process that loads the engine as a worker does (worker.engine,
every usable core) with one option changed, then works as docker-compose's worker does: four
threads (WORKER_THREADS=4) through worker.pipeline.process_image, eight 12 MP photos at once,
then lone 1 MP photos. Reported: resident memory at rest (engine loaded and warmed up), at peak
(VmHWM) and after the burst (once the worker's idle trim has run), the seconds per 12 MP photo
of the burst and per lone 1 MP photo.

    .venv/bin/python -m bench.memory                 # needs `make model`
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "var" / "models" / "isnet-fp16-imgly.onnx"
PHOTOS = ("astronaut", "chelsea", "coffee")
# name: (session option changes, run option changes), against worker.engine.session_options
VARIANTS = {
    "shipped: arena on, memory pattern off": ({}, {}),
    "memory pattern on (onnxruntime's default)": ({"enable_mem_pattern": True}, {}),
    "arena off": ({"enable_cpu_mem_arena": False}, {}),
    "arena off, memory pattern on": ({"enable_cpu_mem_arena": False, "enable_mem_pattern": True}, {}),
    "arena shrunk after every run": ({}, {"memory.enable_memory_arena_shrinkage": "cpu:0"}),
    "arena grows by what is asked (kSameAsRequested)": ({"arena_same_as_requested": True}, {}),
}


class WithRunOptions:
    """The engine's session, each run with the variant's run options."""

    def __init__(self, session, entries: dict[str, str]):
        import onnxruntime as ort

        self.session, self.options = session, ort.RunOptions()
        for key, value in entries.items():
            self.options.add_run_config_entry(key, value)

    def __getattr__(self, name: str):
        return getattr(self.session, name)

    def run(self, fetches, feeds):
        return self.session.run(fetches, feeds, self.options)


def child(name: str, threads: int, burst: int, lone: int) -> None:
    """One variant in this process; prints one JSON line."""
    sys.path.insert(0, str(ROOT))
    import onnxruntime as ort

    from bench.pipeline import photo_bytes
    from bench.services import rss_mb
    from core.options import JobOptions
    from core.settings import load_settings
    from worker import engine as engine_module
    from worker.memory import release_freed_memory
    from worker.pipeline import process_image

    changes, run_changes = VARIANTS[name]
    shipped = engine_module.session_options

    def options(cores: int) -> ort.SessionOptions:
        result = shipped(cores)
        for key, value in changes.items():
            if key == "arena_same_as_requested":
                config = ort.OrtArenaCfg(0, 1, -1, -1)
                info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
                ort.create_and_register_allocator(info, config)
                result.add_session_config_entry("session.use_env_allocators", "1")
            else:
                setattr(result, key, value)
        return result

    engine_module.session_options = options
    settings = load_settings({"REMBG_MODEL_PATH": str(MODEL), "MODEL_DIR": str(MODEL.parent)}, env_file=None)
    engine = engine_module.load_engine(settings)
    if run_changes:
        engine.session = WithRunOptions(engine.session, run_changes)
    big = [photo_bytes(photo, 12.0)[0] for photo in PHOTOS]
    small = [photo_bytes(photo, 1.0)[0] for photo in PHOTOS]

    def cut(data: bytes) -> None:
        process_image(data, JobOptions(), engine, max_bytes=10**9, max_pixels=10**9)

    cut(small[0])
    rest = rss_mb(os.getpid())
    work: queue.Queue[bytes] = queue.Queue()
    for number in range(burst):
        work.put(big[number % len(big)])

    def consume() -> None:
        while True:
            try:
                cut(work.get_nowait())
            except queue.Empty:
                return

    began = time.perf_counter()
    consumers = [threading.Thread(target=consume) for _ in range(threads)]
    for thread in consumers:
        thread.start()
    for thread in consumers:
        thread.join()
    per_big = (time.perf_counter() - began) / burst
    release_freed_memory()  # as the worker does when it goes idle
    after = rss_mb(os.getpid())
    times = []
    for number in range(lone):
        began = time.perf_counter()
        cut(small[number % len(small)])
        times.append(time.perf_counter() - began)
    print(json.dumps({"rest": rest, "peak": rss_mb(os.getpid(), "VmHWM"), "after": after,
                      "per_12mp": per_big, "lone_1mp": sum(times) / len(times)}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4, help="consumer threads (compose: WORKER_THREADS=4)")
    parser.add_argument("--burst", type=int, default=8, help="12 MP photos at once")
    parser.add_argument("--lone", type=int, default=6, help="lone 1 MP photos afterwards")
    parser.add_argument("--rounds", type=int, default=2, help="times each variant runs (alternating)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.threads, args.burst, args.lone)
        return 0
    if not MODEL.is_file():
        parser.error(f"no model at {MODEL}: run `make model` first")
    from bench.pipeline import machine

    print(f"machine: {machine()}")
    print("command: " + " ".join([Path(sys.executable).name, "-m", "bench.memory", *sys.argv[1:]]), flush=True)
    results: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name in VARIANTS:
            done = subprocess.run(
                [sys.executable, "-m", "bench.memory", "--child", name, "--threads", str(args.threads),
                 "--burst", str(args.burst), "--lone", str(args.lone)],
                cwd=ROOT, capture_output=True, text=True, check=True)
            results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"  {name}: {results[name][-1]}", flush=True)
    print(f"\n| variant | rest MB | peak MB | after the burst MB | s per 12 MP photo ({args.threads} threads) "
          "| s per lone 1 MP photo |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        mean = {key: sum(run[key] for run in runs) / len(runs) for key in runs[0]}
        print(f"| {name} | {mean['rest']:.0f} | {mean['peak']:.0f} | {mean['after']:.0f} | {mean['per_12mp']:.2f} "
              f"| {mean['lone_1mp']:.3f} |")
    print(f"\nload average at the end: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
