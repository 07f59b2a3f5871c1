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
import http.client
import io
import json
import multiprocessing
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import yaml

from bench.pipeline import machine, photo_bytes
from bench.services import create_database, drop_database, free_port, rss_mb, total_cpu, with_children
from tests.support.multipart import multipart

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ("astronaut", "chelsea", "coffee")
WAIT_SECONDS = 20
JOB_DEADLINE_SECONDS = 300
COMPOSE_ONLY_MARKER = "# --- docker-compose only ---"
PASSWORD = "benchmark-password-1"
AT_ONCE = 8


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


# --- (M) and (C): services reached over HTTP --------------------------------------------------


_connections = threading.local()


def api(port: int, method: str, path: str, token: str | None = None, body: bytes | None = None,
        content_type: str | None = None) -> tuple[int, bytes, http.client.HTTPMessage]:
    """One request to the API on this port over this thread's kept-alive connection, as an HTTP
    client library would send it; (status, body, headers)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if content_type:
        headers["Content-Type"] = content_type
    for attempt in (1, 2):
        connection = _connection(port, fresh=attempt == 2)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read(), response.headers
        except (http.client.HTTPException, ConnectionError):
            if attempt == 2:  # a kept connection the server closed is retried once on a new one
                raise
    raise AssertionError("unreachable")


def _connection(port: int, fresh: bool) -> http.client.HTTPConnection:
    kept = getattr(_connections, "by_port", None)
    if kept is None:
        kept = _connections.by_port = {}
    if fresh or port not in kept:
        if port in kept:
            kept[port].close()
        kept[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    return kept[port]


def cut_out(port: int, token: str, data: bytes) -> float:
    """Submit a photo, wait until it is done, download the result: the seconds it all took."""
    began = time.perf_counter()
    body, content_type = multipart({"mode": "png"}, data)
    status, answer, _ = api(port, "POST", "/api/v1/jobs", token, body, content_type)
    if status != 202:
        raise SystemExit(f"submit answered {status}: {answer[:300]!r}")
    job_id = json.loads(answer)["id"]
    deadline = began + JOB_DEADLINE_SECONDS
    while True:
        status, answer, headers = api(port, "GET", f"/api/v1/jobs/{job_id}?wait={WAIT_SECONDS}", token)
        state = json.loads(answer).get("status") if status == 200 else None
        if state == "done":
            break
        if state in ("failed", "cancelled") or time.perf_counter() > deadline:
            raise SystemExit(f"job {job_id} ended {state} ({answer[:300]!r})")
        time.sleep(float(headers.get("Retry-After", 0)))
    status, result, _ = api(port, "GET", f"/api/v1/jobs/{job_id}/result", token)
    if status != 200 or not result.startswith(b"\x89PNG"):
        raise SystemExit(f"result of {job_id}: {status}, {result[:40]!r}")
    return time.perf_counter() - began


def at_once(port: int, tokens: list[str], uploads: list[bytes]) -> float:
    """AT_ONCE photos submitted together by as many clients: the makespan divided by their number."""
    barrier, errors = threading.Barrier(len(tokens) + 1), []

    def client(token: str, data: bytes) -> None:
        barrier.wait()
        try:
            cut_out(port, token, data)
        except BaseException as exc:  # cut_out raises SystemExit: reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(token, uploads[i % len(uploads)]))
               for i, token in enumerate(tokens)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"8 at once failed: {errors[0]}")
    return (time.perf_counter() - began) / len(tokens)


class Service:
    """A configuration under test: its processes, its port, and users with credits and tokens."""

    name = ""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"cutout-latency-{self.name}-"))
        self.port = free_port()
        self.processes: dict[str, subprocess.Popen] = {}
        self.tokens: list[str] = []

    def spawn(self, label: str, command: list[str], environ: dict[str, str], cwd: Path = ROOT) -> None:
        log = (self.workdir / f"{label}.log").open("w")
        self.processes[label] = subprocess.Popen(command, cwd=cwd, env=environ, stdout=log, stderr=subprocess.STDOUT)

    def wait_until_up(self, deadline_seconds: float = 180) -> None:
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            for label, process in self.processes.items():
                if process.poll() is not None:
                    raise SystemExit(f"{self.name}: {label} exited; see {self.workdir / (label + '.log')}")
            try:
                if api(self.port, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{self.name} did not come up; see {self.workdir}")

    def make_users(self, database_url: str, count: int) -> None:
        """Users with credits, made through core on the service's database; tokens through the API."""
        from core import accounts
        from core.db import connect_database, db
        from core.settings import load_settings

        connect_database(load_settings({"DATABASE_URL": database_url}, env_file=None))
        emails = [f"bench-{uuid.uuid4().hex[:8]}@example.com" for _ in range(count)]
        for email in emails:
            accounts.register_email_user(email, PASSWORD, signup_bonus=10_000)
        db.close()
        if getattr(db.obj, "close_all", None):
            db.obj.close_all()
        for email in emails:
            status, body, _ = api(self.port, "POST", "/api/v1/auth/token", body=json.dumps(
                {"email": email, "password": PASSWORD}).encode(), content_type="application/json")
            if status != 200:
                raise SystemExit(f"{self.name}: sign-in answered {status}: {body[:200]!r}")
            self.tokens.append(json.loads(body)["access_token"])

    def pids(self) -> dict[str, list[int]]:
        """Each process of the service and its children (gunicorn's workers)."""
        return {label: with_children(process.pid) for label, process in self.processes.items()}

    def cpu(self) -> float:
        """CPU seconds all of the service's processes have used so far."""
        return sum(total_cpu(pids) for pids in self.pids().values())

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def clean_environment() -> dict[str, str]:
    """This process's environment without any Cutout setting, so only the defaults apply."""
    from core.settings import Settings

    names = {name.upper() for name in Settings.__dataclass_fields__}
    return {key: value for key, value in os.environ.items() if key not in names}


class MakeRun(Service):
    """`make run`: run.py with no .env and no setting but the port, in an empty directory whose
    var/models is the repository's (where `make model` put the weights)."""

    name = "M"

    def __init__(self) -> None:
        super().__init__()
        (self.workdir / "var").mkdir()
        (self.workdir / "var" / "models").symlink_to(ROOT / "var" / "models")
        environ = {**clean_environment(), "PANEL_PORT": str(self.port), "PUBLIC_URL": f"http://127.0.0.1:{self.port}"}
        self.spawn("run.py", [sys.executable, str(ROOT / "run.py")], environ, cwd=self.workdir)
        self.wait_until_up()
        self.make_users(f"sqlite:///{self.workdir}/var/cutout.db", AT_ONCE)


def env_example() -> dict[str, str]:
    """The app settings of .env.example that hold a value (what an operator's .env starts as)."""
    text = (ROOT / ".env.example").read_text()
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#") and value:
            values[key] = value
    return values


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?message} against .env's values."""
    def one(match: re.Match) -> str:
        name, form, default = match.group(1), match.group(2) or "", match.group(3) or ""
        return variables.get(name) or (default if form.endswith("-") else "")
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}", one, str(value))


def compose_service(name: str) -> tuple[dict[str, str], dict]:
    """A service of docker-compose.yml: its environment as the container would see it (.env from
    .env.example, then `environment:`), and the service itself."""
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][name]
    variables = env_example()
    environment = dict(env_example())
    environment.update({key: interpolate(value, variables) for key, value in service["environment"].items()})
    return environment, {key: interpolate(value, variables) if isinstance(value, str) else value
                         for key, value in service.items()}


class Compose(Service):
    """docker-compose's worker and panel, on a database, queue names and storage of this run's own."""

    name = "C"

    def __init__(self, database_url: str, amqp_url: str, model_path: Path) -> None:
        super().__init__()
        suffix = uuid.uuid4().hex[:10]
        self.admin_url, self.db_name = database_url, f"cutout_latency_{suffix}"
        self.database_url = create_database(database_url, self.db_name)
        shared = {
            "DATABASE_URL": self.database_url, "AMQP_URL": amqp_url, "JWT_SECRET": secrets.token_urlsafe(48),
            "INPUT_QUEUE": f"latency_input_{suffix}", "RESULT_QUEUE": f"latency_result_{suffix}",
            "DEAD_LETTER_QUEUE": f"latency_dead_{suffix}", "STORAGE_DIR": str(self.workdir / "storage"),
            "MODEL_DIR": str(model_path.parent), "REMBG_MODEL_PATH": str(model_path),
        }
        worker_env, worker = compose_service("worker")
        panel_env, _ = compose_service("admin_panel")
        self.cpus, self.worker_threads = float(worker.get("cpus") or 0), worker_env["WORKER_THREADS"]
        self.mem_limit = worker.get("mem_limit", "")
        base = clean_environment()
        subprocess.run([sys.executable, "-m", "core", "migrate"], cwd=ROOT, check=True, capture_output=True,
                       env={**base, **panel_env, **shared})
        self.spawn("worker", self._cpu_limited([sys.executable, "-m", "worker"]),
                   {**base, **worker_env, **shared})
        self.spawn("admin_panel", [sys.executable, "-m", "admin_panel"],
                   {**base, **panel_env, **shared, "PANEL_HOST": "127.0.0.1", "PANEL_PORT": str(self.port)})
        self.wait_until_up()
        self.make_users(self.database_url, AT_ONCE)
        self.shared = shared

    def _cpu_limited(self, command: list[str]) -> list[str]:
        """compose's `cpus:` as an affinity when it is below this machine's cores (a CFS quota would
        need a cgroup of our own); at or above them, the worker has every core, as in its container."""
        cores = len(os.sched_getaffinity(0))
        if not self.cpus or self.cpus >= cores:
            return command
        allowed = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0))[: max(1, int(self.cpus + 0.999))])
        return ["taskset", "-c", allowed, *command]

    def stop(self) -> None:
        super().stop()
        from core.rabbit import RabbitQueue
        from core.settings import load_settings

        RabbitQueue(load_settings({**self.shared, "APP_ENV": "test"}, env_file=None)).delete_topology()
        drop_database(self.admin_url, self.db_name)


# --- the run ------------------------------------------------------------------------------------


def memory_line(label: str, pids: list[int], rest: float) -> str:
    peak = sum(rss_mb(pid, "VmHWM") for pid in pids)
    return f"  {label:<34} rest {rest:6.0f} MB   peak {peak:6.0f} MB"


def run(args, model_path: Path) -> None:
    children = {kind: Child(kind, str(model_path)) for kind in ("L", "R")}
    services: list[Service] = []
    try:
        services = [MakeRun(), Compose(args.database_url, args.amqp_url, model_path)]
        make_run, compose = services
        print(f"(M) run.py: pid {make_run.processes['run.py'].pid}; (C) worker WORKER_THREADS="
              f"{compose.worker_threads}, cpus {compose.cpus or 'unlimited'} (this machine: "
              f"{len(os.sched_getaffinity(0))} cores), mem_limit {compose.mem_limit or 'none'}", flush=True)
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
