"""Requests per second and latency of GET /api/v1/jobs/<id> under gunicorn against PostgreSQL.

    python bench/api.py                                   # uses TEST_DATABASE_URL's server
    python bench/api.py --database-url postgresql://postgres@127.0.0.1:5432/test --requests 20000

Creates a database of its own on that server (dropped afterwards), a user with a few jobs and a
token, starts `python -m admin_panel` (gunicorn, the production server) on a free loopback port,
and sends the requests from client processes that keep their connections open. Bounded in count
(--requests) and time (--seconds). Prints a Markdown summary line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.services import create_database, drop_database, free_port, total_cpu, with_children  # noqa: E402 - after the path set-up
from core import accounts, billing, jobs, migrations, tokens  # noqa: E402
from core.db import connect_database, db  # noqa: E402
from core.queue import MemoryQueue  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.storage import open_storage  # noqa: E402
from tests.support.images import encode, subject_image  # noqa: E402

TARGET_RPS = 500.0
TARGET_P99_MS = 50.0


def prepare(environ: dict) -> tuple[str, str]:
    """Migrate, create a user with jobs; return (job id, bearer token)."""
    # The 20 jobs are set up at once, past the shipped MAX_JOBS_IN_FLIGHT; the server keeps the default.
    settings = load_settings({**environ, "MAX_JOBS_IN_FLIGHT": "100"}, env_file=None)
    connect_database(settings)
    migrations.migrate()
    user, _ = accounts.register_telegram_user(424242, first_name="Bench", signup_bonus=0)
    billing.top_up(user.id, 1000, payment_id=f"bench-{uuid.uuid4().hex}")
    storage, queue = open_storage(settings), MemoryQueue(settings)
    image = encode(subject_image((64, 48)))
    job_ids = [jobs.submit_job(user.id, image, {}, settings=settings, storage=storage, queue=queue).id
               for _ in range(20)]
    token = tokens.issue_access_token(accounts.get_user(user.id), settings)
    db.close()
    return job_ids[len(job_ids) // 2], token


def wait_until_up(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not come up")


def client(args: tuple) -> tuple[list[float], int]:
    """One client process: `threads` keep-alive connections sharing a request budget."""
    import threading

    port, path, token, budget, threads, stop_at = args
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    remaining = [budget]

    def run() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Authorization": f"Bearer {token}"}
        while time.monotonic() < stop_at:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
                ok = response.status == 200 and b'"status"' in body
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                ok = False
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed) if ok else None
                errors[0] += not ok

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies, errors[0]


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU of the gunicorn master and its workers (Linux /proc)."""
    return total_cpu(with_children(pid))


def measure(port: int, path: str, token: str, requests: int, processes: int, threads: int,
            seconds: float, server_pid: int) -> dict:
    cpu_before = server_cpu_seconds(server_pid)
    stop_at = time.monotonic() + seconds
    share = [(port, path, token, requests // processes, threads, stop_at) for _ in range(processes)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(client, share)
    wall = time.perf_counter() - started
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(e for _, e in results)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    cpu = server_cpu_seconds(server_pid) - cpu_before
    return {"requests": len(latencies), "errors": errors, "seconds": round(wall, 2),
            "server_cpu_ms_per_request": round(cpu * 1000 / max(len(latencies), 1), 2),
            "rps": round(len(latencies) / wall, 1), "p50_ms": round(q[49] * 1000, 2),
            "p90_ms": round(q[89] * 1000, 2), "p99_ms": round(q[98] * 1000, 2),
            "max_ms": round(latencies[-1] * 1000, 2) if latencies else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"),
                        help="a PostgreSQL server to create the bench database on")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="stop sending after this long")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="connections per client process")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (PANEL_WORKERS)")
    args = parser.parse_args()
    if not (args.database_url or "").startswith(("postgresql://", "postgres://")):
        parser.error("--database-url (or TEST_DATABASE_URL) must name a PostgreSQL server")

    name = f"cutout_bench_{uuid.uuid4().hex[:10]}"
    url = create_database(args.database_url, name)
    workdir = Path(tempfile.mkdtemp(prefix="cutout-bench-"))
    port = free_port()
    environ = {"APP_ENV": "production", "DATABASE_URL": url, "JWT_SECRET": secrets.token_urlsafe(48),
               "STORAGE_DIR": str(workdir / "storage"), "PANEL_HOST": "127.0.0.1", "PANEL_PORT": str(port),
               "PANEL_WORKERS": str(args.workers), "LOG_LEVEL": "WARNING", "DB_POOL_SIZE": "8"}
    server = None
    try:
        job_id, token = prepare(environ)
        server = subprocess.Popen([sys.executable, "-m", "admin_panel"], cwd=ROOT,
                                  env={**os.environ, **environ}, stdout=subprocess.DEVNULL)
        wait_until_up(port, time.monotonic() + 30)
        path = f"/api/v1/jobs/{job_id}"
        measure(port, path, token, 400, args.processes, args.threads, 10, server.pid)  # warm-up
        result = measure(port, path, token, args.requests, args.processes, args.threads, args.seconds, server.pid)
        load = os.getloadavg()[0]
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        drop_database(args.database_url, name)
    clients = args.processes * args.threads
    verdict = "PASS" if result["rps"] >= TARGET_RPS and result["p99_ms"] < TARGET_P99_MS and not result["errors"] \
        else "MISS"
    print(json.dumps({**result, "load_average_1m": round(load, 2)}))
    print(f"| GET /api/v1/jobs/<id> | gunicorn gthread, {args.workers} workers | {clients} clients | "
          f"{result['requests']} req in {result['seconds']} s | {result['rps']} req/s | p50 {result['p50_ms']} ms | "
          f"p99 {result['p99_ms']} ms | {result['server_cpu_ms_per_request']} | {load:.1f} | {verdict} |")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
