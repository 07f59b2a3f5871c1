"""/healthz for load balancers and /metrics in Prometheus' text format (written by hand: a few
gauges computed from the database per scrape need no client library)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from admin_panel.errors import error_response
from admin_panel.extensions import queue_depth, services
from core import stats
from core.db import is_reachable
from core.enums import JobStatus

logger = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _queue_state() -> str:
    try:
        return services().queue.state()
    except Exception as exc:
        logger.warning("health check: queue unreachable: %s", exc)
        return "unreachable"


@bp.get("/healthz")
def healthz():
    """200 when the database and the queue answer, else 503 with what is wrong: the queue may be
    "unreachable" or "blocked" (a memory or disk alarm: it refuses new messages)."""
    checks = {"database": "ok" if is_reachable() else "unreachable", "queue": _queue_state()}
    if all(v == "ok" for v in checks.values()):
        return jsonify({"status": "ok", **checks})
    return error_response("unavailable", "A dependency is unreachable.", 503, **checks)


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


@bp.get("/metrics")
def metrics():
    """Prometheus metrics."""
    return Response(render_metrics(), mimetype=None, content_type=CONTENT_TYPE)
