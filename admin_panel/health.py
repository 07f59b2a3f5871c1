"""/healthz for load balancers and /metrics in Prometheus' text format (written by hand: a few
gauges need no client library).

Both are operators' business. /metrics answers only to `Authorization: Bearer <METRICS_TOKEN>`
(without a METRICS_TOKEN it is open in development only); /healthz tells the public only "ok" or
"unavailable", and the state of each dependency to the same bearer. The metrics' aggregates are
computed at most once per METRICS_CACHE_SECONDS in each process, however often anyone scrapes.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time

from flask import Blueprint, Response, current_app, jsonify, request

from admin_panel.errors import error_response
from admin_panel.extensions import queue_depth, services
from core import stats
from core.db import is_reachable
from core.enums import JobStatus

logger = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS_CACHE_SECONDS = 30.0

_cache_lock = threading.Lock()
CACHE = "cutout_metrics"  # app.extensions[CACHE]: (when, exposition text) of the last computation


def operator() -> bool:
    """True when the request carries METRICS_TOKEN as its bearer token (compared in constant time)."""
    expected = services().settings.metrics_token
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                                                 expected.encode())


def _queue_state() -> str:
    try:
        return services().queue.state()
    except Exception as exc:
        logger.warning("health check: queue unreachable: %s", exc)
        return "unreachable"


@bp.get("/healthz")
def healthz():
    """200 {"status": "ok"} when the database and the queue answer, else 503 "unavailable". With
    the metrics token, also what each one is: the database "ok" or "unreachable", the queue "ok",
    "unreachable" or "blocked" (a memory or disk alarm: it refuses new messages)."""
    checks = {"database": "ok" if is_reachable() else "unreachable", "queue": _queue_state()}
    detail = checks if operator() else {}
    if all(v == "ok" for v in checks.values()):
        return jsonify({"status": "ok", **detail})
    body = {"error": "unavailable", "message": "The service is unavailable.", "status": "unavailable", **detail}
    return jsonify(body), 503


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def render_metrics() -> str:
    """The exposition text of every metric."""
    lines = ["# HELP cutout_jobs Jobs by status.", "# TYPE cutout_jobs gauge"]
    counts = stats.jobs_by_status()
    for status in (*JobStatus, *sorted(set(counts) - set(JobStatus))):
        lines.append(f'cutout_jobs{{status="{_label(status)}"}} {counts.get(status, 0)}')
    histogram = stats.processing_histogram()
    lines += ["# HELP cutout_job_processing_seconds Time from start to finish of done jobs.",
              "# TYPE cutout_job_processing_seconds histogram"]
    for bound, count in histogram.buckets:
        lines.append(f'cutout_job_processing_seconds_bucket{{le="{bound}"}} {count}')
    lines += [f'cutout_job_processing_seconds_bucket{{le="+Inf"}} {histogram.count}',
              f"cutout_job_processing_seconds_sum {_number(histogram.total)}",
              f"cutout_job_processing_seconds_count {histogram.count}"]
    depth = queue_depth()
    if depth is not None:
        name = _label(services().settings.input_queue)
        lines += ["# HELP cutout_queue_depth Messages waiting in the input queue.", "# TYPE cutout_queue_depth gauge",
                  f'cutout_queue_depth{{queue="{name}"}} {depth}']
    lines += ["# HELP cutout_credits_sold_total Paid credits bought (top-ups).",
              "# TYPE cutout_credits_sold_total counter", f"cutout_credits_sold_total {stats.credits_sold()}",
              "# HELP cutout_users Registered users.", "# TYPE cutout_users gauge",
              f"cutout_users {stats.user_count()}"]
    return "\n".join(lines) + "\n"


def cached_metrics() -> str:
    """render_metrics(), computed again only once it is METRICS_CACHE_SECONDS old."""
    with _cache_lock:
        found = current_app.extensions.get(CACHE)
        if found is None or time.monotonic() - found[0] >= METRICS_CACHE_SECONDS:
            found = current_app.extensions[CACHE] = (time.monotonic(), render_metrics())
    return found[1]


@bp.get("/metrics")
def metrics():
    """Prometheus metrics, for the bearer of METRICS_TOKEN only (open in development without one)."""
    settings = services().settings
    if not operator() and (settings.metrics_token or settings.app_env != "development"):
        if not settings.metrics_token:
            return error_response("forbidden", "Metrics are off: set METRICS_TOKEN and scrape with it as a "
                                  "bearer token.", 403)
        response = error_response("unauthorized", "Send Authorization: Bearer <METRICS_TOKEN>.", 401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return Response(cached_metrics(), mimetype=None, content_type=CONTENT_TYPE)
