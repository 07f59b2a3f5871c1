"""What the app's views share: settings, the queue, storage and the limits."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from flask import current_app

from core.bootstrap import Runtime
from core.finished import FinishedJobs
from core.ratelimit import Limiter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PanelRuntime(Runtime):
    """The process's runtime plus what only the panel keeps: the limits' counters (in the database,
    shared by every process; the object only holds the clock), and the slots of requests that may
    hold their server thread while they wait for a job (`?wait=`)."""

    limiter: Limiter = field(default_factory=Limiter)
    waiters: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(2))
    finished: FinishedJobs | None = None  # wakes synchronous requests (POST /v1.0/removebg)


def services() -> PanelRuntime:
    """The current app's services (set by create_app)."""
    return current_app.extensions["cutout"]


def queue_depth() -> int | None:
    """Messages waiting in the input queue; None when the queue cannot be reached."""
    svc = services()
    try:
        return svc.queue.depth(svc.settings.input_queue)
    except Exception as exc:  # any back-end failure: pages and metrics still render
        logger.warning("queue depth unavailable: %s", exc)
        return None
