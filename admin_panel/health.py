"""/healthz for load balancers and /metrics in Prometheus' text format (prometheus_client).

Both are operators' business. /metrics answers only to `Authorization: Bearer <METRICS_TOKEN>`
(without a METRICS_TOKEN it is open in development only); /healthz tells the public only "ok" or
"unavailable", and the state of each dependency to the same bearer. The metrics' aggregates are
computed at most once per METRICS_CACHE_SECONDS in each process, however often anyone scrapes;
the request counters are summed over gunicorn's processes (core/metrics.py).
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from admin_panel.errors import error_response
from admin_panel.extensions import queue_depth, services
from core import stats
from core.db import is_reachable
from core.enums import JobStatus
from core.errors import DatabaseUnavailable
from core.metrics import CONTENT_TYPE, bearer_matches, process_registry, refusal

logger = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)
METRICS_CACHE_SECONDS = 30.0

_cache_lock = threading.Lock()
CACHE = "cutout_metrics"  # app.extensions[CACHE]: (when, exposition) of the last business metrics


def operator() -> bool:
    """True when the request carries METRICS_TOKEN as its bearer token (compared in constant time)."""
    return bearer_matches(request.headers.get("Authorization"), services().settings.metrics_token)


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
    return jsonify(body), 503, {"Retry-After": str(DatabaseUnavailable.retry_after)}


class BusinessCollector:
    """Users, credits sold, jobs by status, processing times and the queue's depth: aggregates over
    whole tables and a call to the broker, so they are computed when collected, which the panel
    does at most once per METRICS_CACHE_SECONDS (cached_business_metrics)."""

    def __init__(self, input_queue: str):
        self.input_queue = input_queue

    def collect(self):
        jobs = GaugeMetricFamily("cutout_jobs", "Jobs by status.", labels=["status"])
        counts = stats.jobs_by_status()
        for status in (*JobStatus, *sorted(set(counts) - set(JobStatus))):
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        histogram = stats.processing_histogram()
        yield HistogramMetricFamily(
            "cutout_job_processing_seconds", "Time from start to finish of done jobs.",
            buckets=[*((str(bound), count) for bound, count in histogram.buckets), ("+Inf", histogram.count)],
            sum_value=histogram.total)
        depth = queue_depth()
        if depth is not None:
            queue = GaugeMetricFamily("cutout_queue_depth", "Messages waiting in the input queue.", labels=["queue"])
            queue.add_metric([self.input_queue], depth)
            yield queue
        yield CounterMetricFamily("cutout_credits_sold", "Paid credits bought (top-ups).", value=stats.credits_sold())
        yield GaugeMetricFamily("cutout_users", "Registered users.", value=stats.user_count())


def cached_business_metrics() -> bytes:
    """The business metrics' exposition, computed again only once it is METRICS_CACHE_SECONDS old.
    While the database is away the last one stands (or none), so the request counters, the 503s
    among them, are still scraped."""
    with _cache_lock:
        found = current_app.extensions.get(CACHE)
        if found is None or time.monotonic() - found[0] >= METRICS_CACHE_SECONDS:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(BusinessCollector(services().settings.input_queue))
            try:
                found = current_app.extensions[CACHE] = (time.monotonic(), generate_latest(registry))
            except DatabaseUnavailable:
                return found[1] if found else b""
    return found[1]


@bp.get("/metrics")
def metrics():
    """Prometheus metrics, for the bearer of METRICS_TOKEN only (open in development without one)."""
    refused = refusal(services().settings, request.headers.get("Authorization"))
    if refused:
        status, message = refused
        response = error_response("forbidden" if status == 403 else "unauthorized", message, status)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    # This process's (or every gunicorn process's) counters, then the cached business aggregates.
    body = generate_latest(process_registry()) + cached_business_metrics()
    return Response(body, mimetype=None, content_type=CONTENT_TYPE)
