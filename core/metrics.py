"""Prometheus metrics of every process, with prometheus_client: what each process counts, and the
small authenticated server the worker and the bot expose them on (METRICS_PORT). The panel
serves its own on /metrics (admin_panel/health.py), across gunicorn's processes through
prometheus_client's multiprocess mode (admin_panel/gunicorn_config.py)."""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE

logger = logging.getLogger(__name__)

# Seconds: from a 10 ms encode to a 12 MP photo waiting behind a backlog.
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

# --- the worker ---
WORKER_JOBS = Counter("cutout_worker_jobs", "Jobs a worker finished handling, by outcome: done, failed "
                      "(refunded), retried (handed back to try again), skipped (finished or leased elsewhere).",
                      ["outcome"])
WORKER_STAGE = Histogram("cutout_worker_stage_seconds", "Time per stage of one job: download (read the "
                         "photo from the store), decode, inference (waiting for the model included), encode, "
                         "upload (write the result).", ["stage"], buckets=STAGE_BUCKETS)
WORKER_QUEUE_WAIT = Histogram("cutout_worker_queue_wait_seconds", "From a job's creation to the start of the "
                              "attempt that finished it.", buckets=WAIT_BUCKETS)
# livesum: under gunicorn's multiprocess mode (the panel) a dead process's value is dropped, not kept.
WORKER_INFERENCE_THREADS = Gauge("cutout_worker_inference_threads", "onnxruntime's intra-op threads of the "
                                 "worker's model.", multiprocess_mode="livesum")
WORKER_IN_HAND = Gauge("cutout_worker_jobs_in_hand", "Jobs the worker is processing right now.",
                       multiprocess_mode="livesum")

# --- the bot ---
BOT_UPDATES = Counter("cutout_bot_updates", "Telegram updates received, by kind.", ["kind"])
BOT_API_CALLS = Counter("cutout_bot_api_calls", "Bot API calls, by method and outcome: ok, retry_after (429), "
                        "error (another HTTP error), network (no answer).", ["method", "outcome"])
BOT_RETRY_AFTER = Histogram("cutout_bot_retry_after_seconds", "Retry-after that Telegram asked for with a 429.",
                            buckets=(1, 2, 5, 10, 30, 60, 300))
BOT_DELIVERY = Histogram("cutout_bot_delivery_seconds", "From a job's end to its result (or failure) sent to "
                         "the chat.", buckets=WAIT_BUCKETS)

# --- the panel ---
HTTP_REQUESTS = Counter("cutout_http_requests", "HTTP requests the panel answered, by route, method and status.",
                        ["route", "method", "status"])
HTTP_SECONDS = Histogram("cutout_http_request_seconds", "Time to answer an HTTP request, by route and method.",
                         ["route", "method"], buckets=STAGE_BUCKETS)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time a stage of a job into cutout_worker_stage_seconds."""
    started = time.perf_counter()
    try:
        yield
    finally:
        WORKER_STAGE.labels(name).observe(time.perf_counter() - started)


def process_registry() -> CollectorRegistry:
    """What this process exposes: across gunicorn's processes when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def bearer_matches(header: str | None, token: str) -> bool:
    """True when an Authorization header carries `token` as its bearer token (constant time)."""
    scheme, _, given = (header or "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def refusal(settings, header: str | None) -> tuple[int, str] | None:
    """None when the request may read metrics, else (status, message): 401 without the token, 403
    while METRICS_TOKEN is unset outside development."""
    if bearer_matches(header, settings.metrics_token):
        return None
    if not settings.metrics_token:
        if settings.app_env == "development":
            return None
        return 403, "Metrics are off: set METRICS_TOKEN and scrape with it as a bearer token."
    return 401, "Send Authorization: Bearer <METRICS_TOKEN>."


def serve(settings, registry: CollectorRegistry | None = None) -> ThreadingHTTPServer | None:
    """GET /metrics on METRICS_HOST:METRICS_PORT in a daemon thread (the worker's, the bot's), for
    the bearer of METRICS_TOKEN; None when METRICS_PORT is 0."""
    if not settings.metrics_port:
        return None
    registry = registry or REGISTRY

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split("?", 1)[0] != "/metrics":
                return self._answer(404, b"not found\n", "text/plain")
            refused = refusal(settings, self.headers.get("Authorization"))
            if refused:
                return self._answer(refused[0], f"{refused[1]}\n".encode(), "text/plain",
                                    {"WWW-Authenticate": 'Bearer realm="metrics"'} if refused[0] == 401 else {})
            return self._answer(200, generate_latest(registry), CONTENT_TYPE)

        def _answer(self, status: int, body: bytes, content_type: str, headers: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # scrapes every 15 s would drown the log
            pass

    try:
        server = ThreadingHTTPServer((settings.metrics_host, settings.metrics_port), Handler)
    except OSError as exc:  # the process's work matters more than its metrics
        logger.error("metrics are off: cannot listen on %s:%d: %s", settings.metrics_host, settings.metrics_port, exc)
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    logger.info("metrics on http://%s:%d/metrics", settings.metrics_host, server.server_address[1])
    return server
