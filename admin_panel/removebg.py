"""remove.bg's HTTP API, so that an integration written for it works by changing its base URL:
POST /v1.0/removebg and GET /v1.0/account, with remove.bg's parameters, answers, headers and
error shape ({"errors": [{"title", "code", "detail"}]}).

A request is an ordinary job (charged and created in one transaction, published, processed by
the workers, refunded if it fails); the request waits for the workers' announcement that it is
finished (core.finished) up to SYNC_TIMEOUT_SECONDS, then answers 504 with the job id, whose
result /api/v1/jobs/<id> still gives. The output is rendered from the job's kept input and mask
(core.removebg), so every remove.bg option costs no second model run."""

from __future__ import annotations

import base64
import binascii
import logging

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from admin_panel import limiter as limits
from admin_panel.errors import retry_later
from admin_panel.extensions import services
from core import admission, billing, jobs, removebg, tokens
from core.db import rest_connection
from core.enums import JobSource, JobStatus
from core.errors import (
    CutoutError,
    DatabaseUnavailable,
    ImageTooLarge,
    InsufficientCredits,
    InvalidImage,
    InvalidToken,
    TooManyJobs,
    UserBlocked,
)
from core.fetch import fetch_image
from core.removebg import RemoveBgError

logger = logging.getLogger(__name__)

bp = Blueprint("removebg", __name__, url_prefix="/v1.0")


def errors(code: str, title: str, status: int, detail: str | None = None, **extra) -> Response:
    """remove.bg's error answer (`extra`: more top-level fields)."""
    item = {"title": title, "code": code}
    if detail:
        item["detail"] = detail
    response = jsonify({"errors": [item], **extra})
    response.status_code = status
    return response


@bp.errorhandler(CutoutError)
def _domain_error(exc: CutoutError):
    if isinstance(exc, RemoveBgError):
        job = {"job_id": exc.job_id} if getattr(exc, "job_id", None) else {}
        response = errors(exc.code, exc.title, exc.status, exc.message, **job)
        if exc.status == 429:
            response.headers["Retry-After"] = "1"
        return _limited(response)
    if isinstance(exc, InvalidToken | UserBlocked):
        return errors("auth_failed", "Authentication failed", 403, exc.message)
    if isinstance(exc, InsufficientCredits):
        return _limited(errors("insufficient_credits", "Insufficient credits", 402, exc.message))
    if isinstance(exc, ImageTooLarge):
        code = "file_too_large" if " MB" in exc.message else "resolution_too_high"
        return _limited(errors(code, exc.message, 400, exc.message))
    if isinstance(exc, InvalidImage):
        code = "invalid_file_type" if "not" in exc.message or "supported" in exc.message else "failed_to_read_image"
        return _limited(errors(code, exc.message, 400, exc.message))
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(exc, TooManyJobs | limits.TooManyAttempts) or retry_after:
        response = errors("rate_limit_exceeded", "Rate limit exceeded", 429, exc.message)
        response.headers["Retry-After"] = str(retry_after or 1)
        return _limited(response)
    return errors(exc.code, exc.message, 400, exc.message)


@bp.errorhandler(DatabaseUnavailable)
def _unavailable(exc: DatabaseUnavailable):
    """remove.bg's shape for its clients, the panel's "error" and "message" beside it."""
    return retry_later(errors(exc.code, "Service unavailable", 503, exc.message, error=exc.code,
                              message=exc.message), exc)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    if isinstance(exc, RequestEntityTooLarge):
        return errors("file_too_large", "File too large", 400, "The request is larger than the upload limit.")
    return errors("http_error", exc.name, exc.code or 400, exc.description)


def _caller() -> int:
    """The user behind X-Api-Key (an API key from /apikey or POST /api/v1/auth/apikey) or a Bearer token."""
    key = request.headers.get("X-Api-Key", "").strip()
    if not key:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else ""
    if not key:
        raise InvalidToken("Send your API key in the X-Api-Key header.")
    g.removebg_user = tokens.verify_token(key, services().settings).user_id
    return g.removebg_user


def _fields() -> tuple[dict, dict[str, bytes]]:
    """The request's parameters and its uploaded files, from any of remove.bg's three encodings."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise RemoveBgError("invalid_request", "The JSON body must be an object.")
        return body, {}
    files = {name: upload.read() for name, upload in request.files.items()}
    return request.form.to_dict(), files


def _decoded(b64: str, what: str) -> bytes:
    try:
        return base64.b64decode(b64.split(",", 1)[-1] if b64.startswith("data:") else b64, validate=True)
    except (binascii.Error, ValueError):
        raise RemoveBgError("failed_to_read_image", f"{what} is not valid base64.") from None


def _given(fields: dict, files: dict[str, bytes], kind: str) -> list[str]:
    """Which of `kind`_file, `kind`_file_b64 and `kind`_url the request sends."""
    return [name for name in (f"{kind}_file", f"{kind}_file_b64", f"{kind}_url") if files.get(name) or fields.get(name)]


def _read(fields: dict, files: dict[str, bytes], name: str) -> bytes:
    """An image as sent: uploaded, in base64, or by URL."""
    if name.endswith("_b64"):
        return _decoded(str(fields[name]), name)
    if name.endswith("_url"):
        return _download(str(fields[name]))
    return files.get(name) or str(fields[name]).encode()


def _image(fields: dict, files: dict[str, bytes]) -> bytes:
    given = _given(fields, files, "image")
    if not given:
        raise RemoveBgError("missing_source", "No image given: send image_file, image_file_b64 or image_url.")
    if len(given) > 1:
        raise RemoveBgError("multiple_sources", "Send only one of image_file, image_file_b64 and image_url.")
    return _read(fields, files, given[0])


def _background(fields: dict, files: dict[str, bytes]) -> bytes | None:
    given = _given(fields, files, "bg_image") + (["bg_color"] if fields.get("bg_color") else [])
    if len(given) > 1:
        raise RemoveBgError("multiple_bg_sources", "Send only one of bg_color, bg_image_file and bg_image_url.")
    return _read(fields, files, given[0]) if given and given[0] != "bg_color" else None


def _download(url: str) -> bytes:
    settings = services().settings
    if not settings.allow_image_urls:
        raise RemoveBgError("invalid_image_url", "Image URLs are turned off on this server (ALLOW_IMAGE_URLS); "
                                                 "upload the file instead.")
    return fetch_image(url, max_bytes=settings.max_upload_bytes)


@bp.post("/removebg")
def remove_background():
    """Remove the background of one image and answer with the result (remove.bg's API)."""
    user_id = _caller()
    svc = services()
    _count_request(user_id)
    if not svc.waiters.acquire(blocking=False):  # every waiting thread is taken: never starve the others
        raise RemoveBgError("rate_limit_exceeded", "This server is busy with other images; try again in a second.",
                            status=429, title="Rate limit exceeded")
    try:
        rest_connection()  # reading the body, downloads and the wait hold no database connection
        fields, files = _fields()
        params = removebg.parse_params(fields)
        background = _background(fields, files)
        data = _image(fields, files)
        removebg.check_before_charging(data, background, params, max_bytes=svc.settings.max_upload_bytes,
                                       max_pixels=svc.settings.max_pixels)
        job = jobs.submit_job(user_id, data, {"mode": "png"}, settings=svc.settings, storage=svc.storage,
                              queue=svc.queue, source=JobSource.REMOVEBG, input_name="image", preview=params.preview,
                              idempotency_key=request.headers.get("Idempotency-Key"))
        job = svc.finished.wait(job.id, user_id, timeout=svc.settings.sync_timeout_seconds)
    finally:
        svc.waiters.release()
    if job.status != JobStatus.DONE:
        return _unfinished(job)
    return _answer(_rendered(job, params, background), job.price)


def _rendered(job, params: removebg.Params, background: bytes | None) -> removebg.Output:
    """The answer's file from the done job. What could be refused was refused before the charge;
    a failure here gives the credit back, except a subject outside the roi: the job's cut-out
    exists (GET /api/v1/jobs/<id>/result), so it was made and is paid for."""
    svc = services()
    try:
        return removebg.render(svc.storage.get(job.input_key), svc.storage.get(job.mask_key), params,
                               background=background, max_bytes=svc.settings.max_upload_bytes,
                               max_pixels=svc.settings.max_pixels)
    except Exception as exc:
        if getattr(exc, "outside_roi", False):
            exc.job_id = job.id  # where its cut-out can be fetched
        else:
            jobs.refund_done_job(job.id, f"No answer could be made (remove.bg API): {exc}"[:500])
        raise


def _unfinished(job) -> Response:
    if job.is_finished:  # failed: refunded by core
        return errors("failed_to_read_image", "The image could not be processed", 400,
                      f"{job.error or 'Processing failed'} Nothing was charged.")
    response = errors("timeout", "The image is still being processed", 504,
                      f"Not finished within {services().settings.sync_timeout_seconds} s; fetch the result "
                      f"from /api/v1/jobs/{job.id} when it is done.", job_id=job.id)
    response.headers["X-Job-Id"] = job.id
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return _limited(response)


def _answer(output: removebg.Output, charged: int) -> Response:
    if "application/json" in request.headers.get("Accept", ""):
        top, left, width, height = output.foreground
        response = jsonify({"data": {"result_b64": base64.b64encode(output.data).decode(),
                                     "foreground_top": top, "foreground_left": left,
                                     "foreground_width": width, "foreground_height": height}})
    else:
        response = Response(output.data, mimetype=output.content_type)
    response.headers.update({"X-Credits-Charged": str(charged), "X-Width": str(output.width),
                             "X-Height": str(output.height), "X-Type": "other"})
    return _limited(response)


def _count_request(user_id: int) -> None:
    """JOBS_PER_MINUTE per account and address, as /api/v1 counts them; 429 beyond."""
    limits.check_submission(services().limiter, user_id)


def _limited(response: Response) -> Response:
    """remove.bg's rate-limit headers: this minute's window of JOBS_PER_MINUTE."""
    rule, user_id = limits.JOBS_PER_MINUTE, g.get("removebg_user")
    svc = services()
    used = svc.limiter.used(rule, f"user:{user_id}") if user_id is not None else 0
    response.headers["X-RateLimit-Limit"] = str(rule.limit)
    response.headers["X-RateLimit-Remaining"] = str(max(0, rule.limit - used))
    response.headers["X-RateLimit-Reset"] = str(int((svc.limiter.clock() // rule.seconds + 1) * rule.seconds))
    return response


@bp.get("/account")
def account():
    """The caller's credits in remove.bg's shape: bonus credits as subscription, bought ones as
    pay-as-you-go; free_calls are the previews left today."""
    user_id = _caller()
    balance = billing.balance(user_id)
    settings = services().settings
    return jsonify({"data": {"attributes": {
        "credits": {"total": balance.total, "subscription": balance.bonus, "payg": balance.paid, "enterprise": 0},
        "api": {"free_calls": admission.free_previews_left(user_id, settings), "sizes": "all"},
    }}})
