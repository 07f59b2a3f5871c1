"""One JSON error shape for the API and one place that maps domain errors to HTTP statuses."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from admin_panel.limiter import TooManyAttempts
from core import errors as e

logger = logging.getLogger(__name__)

# The first class in an error's MRO found here decides its status.
STATUS: dict[type[e.CutoutError], int] = {
    e.InvalidEmail: 400,
    e.WeakPassword: 400,
    e.EmailTaken: 400,
    e.InvalidAmount: 400,
    e.ReasonRequired: 400,
    e.InvalidOptions: 400,
    e.InvalidIdempotencyKey: 400,
    e.IdempotencyConflict: 409,
    e.DuplicateSubmission: 409,
    e.InvalidCredentials: 401,
    e.InvalidToken: 401,
    e.InsufficientCredits: 402,
    e.UserBlocked: 403,
    e.WrongPassword: 403,
    e.AccountExists: 409,
    e.LastAdmin: 409,
    e.UserNotFound: 404,
    e.JobNotFound: 404,
    e.PaymentNotFound: 404,
    e.AlreadyRefunded: 409,
    e.JobNotReady: 409,
    e.InvalidJobState: 409,
    e.ResultGone: 410,
    e.RenderUnavailable: 409,
    e.TooManyRenders: 429,
    e.ImageTooLarge: 413,
    e.InvalidImage: 415,
    e.TooManyJobs: 429,
    TooManyAttempts: 429,
    e.QueueUnavailable: 503,
    e.TelegramUnavailable: 502,
    e.SettingsError: 500,
}

# Codes for errors raised by Flask/werkzeug itself (routing, body limits, bad requests).
HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "image_too_large", 415: "unsupported_media_type",
              429: "too_many_requests"}

JSON_PREFIXES = ("/api/", "/healthz", "/metrics", "/v1.0/")


def error_response(code: str, message: str, status: int, **extra) -> Response:
    """A JSON error: {"error": code, "message": message} with the given status."""
    response = jsonify({"error": code, "message": message, **extra})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="cutout"'
    return response


def status_for(exc: e.CutoutError) -> int:
    """The HTTP status of a domain error."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def wants_json() -> bool:
    """True for API, health and metrics requests; pages get HTML."""
    return request.path.startswith(JSON_PREFIXES)


def _page(status: int, title: str, message: str):
    return render_template("error.html", status=status, title=title, message=message), status


def handle_domain_error(exc: e.CutoutError):
    status = status_for(exc)
    if status >= 500:
        logger.error("%s on %s %s: %s", type(exc).__name__, request.method, request.path, exc)
    response = (error_response(exc.code, exc.message, status) if wants_json()
                else _page(status, exc.code.replace("_", " ").capitalize(), exc.message))
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        response = make_response(response)
        response.headers["Retry-After"] = str(retry_after)
    return response


def handle_http_error(exc: HTTPException):
    status = exc.code or 500
    code = HTTP_CODES.get(status, "http_error")
    message = exc.description or exc.name
    if status == 413:
        message = "The upload is too large."
    if wants_json():
        response = error_response(code, message, status)
        if status == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response
    return _page(status, exc.name, message)


def retry_later(response: Response, exc: e.DatabaseUnavailable) -> Response:
    """A 503 of a database outage: Retry-After, and this request's connection not kept (core
    logged the outage once; no line per request)."""
    g.request_failed = True
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def handle_unavailable(exc: e.DatabaseUnavailable):
    """The database is away: 503 with Retry-After, as JSON or as a short page."""
    if wants_json():
        return retry_later(error_response(exc.code, exc.message, 503), exc)
    g.identity = None  # naming who is signed in needs the database: the page names nobody
    page = _page(503, "Briefly unavailable", "Cutout is briefly unavailable. Please try again in a minute.")
    return retry_later(make_response(page), exc)


def handle_unexpected(exc: Exception):
    logger.exception("unhandled error on %s %s", request.method, request.path)
    g.request_failed = True  # the database connection may be broken: do not keep it
    if wants_json():
        return error_response("internal_error", "Something went wrong on our side.", 500)
    return _page(500, "Internal error", "Something went wrong on our side.")


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on the app."""
    app.register_error_handler(e.CutoutError, handle_domain_error)
    app.register_error_handler(e.DatabaseUnavailable, handle_unavailable)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
