"""The Flask app: admin pages, the user's page and the REST API (`create_app`)."""

from __future__ import annotations

import hashlib
import logging
import threading
import time

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from admin_panel import api, api_admin, auth, csrf, gunicorn_config, health, openapi, pages, removebg, web
from admin_panel.errors import register_error_handlers
from admin_panel.extensions import PanelRuntime
from core import tokens
from core.bootstrap import start
from core.db import begin_scope, exit_scope
from core.finished import FinishedJobs
from core.metrics import HTTP_REQUESTS, HTTP_SECONDS
from core.queue import JobQueue, open_queue
from core.ratelimit import Limiter
from core.settings import Settings
from core.storage import Store, open_storage

logger = logging.getLogger(__name__)

# Room for the multipart envelope and option fields around an image of max_upload_bytes.
MULTIPART_SLACK = 64 * 1024
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                               "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
}


def create_app(settings: Settings | None = None, *, queue: JobQueue | None = None,
               storage: Store | None = None, limiter: Limiter | None = None,
               keep_connections: bool = False,
               waiting_requests: int = gunicorn_config.THREADS - gunicorn_config.RESERVED_THREADS) -> Flask:
    """Build the app. Without settings it starts the process (core.bootstrap: settings, logging,
    the database, and a refusal while migrations are pending); with settings the caller has.
    Queue and storage may be shared with worker threads in the same process.
    `keep_connections` lets each thread keep its database connection between requests: only for
    servers with a fixed set of threads (gunicorn gthread, waitress), since a thread-per-request
    server would leak one connection per thread.
    `waiting_requests`: how many requests at once may hold a server thread while they wait for
    a job to finish (POST /v1.0/removebg, GET /api/v1/jobs/<id>?wait=); gunicorn's threads but
    a few leaves those few to everyone else (admin_panel.gunicorn_config)."""
    if settings is None:
        settings = start()
    secret = tokens.signing_secret(settings)  # a missing JWT_SECRET fails here, not on a request
    app = Flask(__name__)
    if settings.panel_proxies:
        # Behind nginx every request comes from the proxy; take the client's address (for the
        # login limiter and logs) and scheme from the headers it sets, and only from it.
        n = settings.panel_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    secure = settings.public_url.startswith("https:")
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + MULTIPART_SLACK,
        SECRET_KEY=hashlib.sha256(b"session:" + secret.encode()).hexdigest(),
        SESSION_COOKIE_NAME="cutout_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=secure,
    )
    queue = queue or open_queue(settings)
    app.extensions["cutout"] = PanelRuntime(settings=settings, queue=queue,
                                            storage=storage or open_storage(settings),
                                            limiter=limiter or Limiter(),
                                            waiters=threading.BoundedSemaphore(max(1, waiting_requests)),
                                            finished=FinishedJobs(queue))
    register_error_handlers(app)
    for blueprint in (auth.bp, api.bp, api_admin.bp, openapi.bp, health.bp, pages.bp, web.bp, removebg.bp):
        app.register_blueprint(blueprint)
    app.before_request(_open_database)
    app.teardown_request(lambda exc: _close_database(exc, keep_connections))
    app.after_request(lambda response: _finish(response, secure))
    app.context_processor(lambda: {"csrf_token": csrf.csrf_token, "current": auth.page_identity()})
    return app


def _count(response) -> None:
    """cutout_http_requests and cutout_http_request_seconds, by the route's pattern (never the
    path itself: one series per route, however many ids are asked for)."""
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    if "request_started" in g:
        HTTP_SECONDS.labels(route, request.method).observe(time.perf_counter() - g.request_started)


def _open_database() -> None:
    """The request's unit of work; its connection is taken at its first query, not here, so a
    request still reading a slow upload holds none (gunicorn's threads outnumber the pool)."""
    g.request_started = time.perf_counter()
    if request.endpoint != "static":
        g.database_opened = begin_scope()


def _close_database(exc: BaseException | None, keep: bool) -> None:
    if "database_opened" in g:
        failed = exc is not None or g.get("request_failed", False)
        exit_scope(g.database_opened, failed=failed, keep=keep)


def _finish(response, secure: bool):
    _count(response)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return csrf.set_cookie(response, secure)
