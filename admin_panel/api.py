"""The REST API for users: /api/v1 auth, profile, ledger and jobs."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, redirect, request
from werkzeug.exceptions import BadRequest

from admin_panel import limiter as limits
from admin_panel.auth import change_password_checked, identity, register_account, sign_in, token_required
from admin_panel.extensions import services
from admin_panel.schemas import entry_json, job_json, page_json, user_json
from core import billing, jobs, previews, renders, results, tokens
from core.enums import JobSource, JobStatus
from core.options import parse_options

logger = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_PAGE = 100_000
# Below gunicorn's graceful timeout (20 s in compose), so a deploy lets waiting requests answer.
MAX_WAIT_SECONDS = 20


def json_body() -> dict:
    """The request's JSON object; 400 for anything else."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("Send a JSON object (Content-Type: application/json).")
    return body


def string_field(body: dict, name: str) -> str:
    """A required string field of a JSON body; 400 when it is missing or not a string."""
    value = body.get(name)
    if not isinstance(value, str) or "\x00" in value:
        raise BadRequest(f"'{name}' must be a string.")
    return value


def page_arg() -> int:
    """The ?page= argument (from 1); 400 when it is not a whole number in range."""
    raw = request.args.get("page", "1")
    if not _whole_number(raw) or not 1 <= int(raw) <= MAX_PAGE:
        raise BadRequest(f"page must be a whole number from 1 to {MAX_PAGE}.")
    return int(raw)


def id_arg(name: str) -> int | None:
    """An optional ?<name>= id filter; 400 when it is not a whole number in range."""
    raw = request.args.get(name) or None
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not 1 <= int(raw) <= 2147483647:
        raise BadRequest(f"{name} must be a user id.")
    return int(raw)


def _whole_number(raw: str) -> bool:
    """ASCII digits only, and few of them: str.isdigit() also takes '²', which int() refuses (a 500)."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 9


def wait_arg() -> int:
    """The ?wait= argument: seconds to hold the answer until the job is finished (0 to 20)."""
    raw = request.args.get("wait", "0")
    if not _whole_number(raw) or int(raw) > MAX_WAIT_SECONDS:
        raise BadRequest(f"wait must be a whole number of seconds from 0 to {MAX_WAIT_SECONDS}.")
    return int(raw)


def _user_id() -> int:
    return identity().user_id


@bp.post("/auth/register")
def register():
    """Create an account with email and password."""
    body = json_body()
    user = register_account(string_field(body, "email"), string_field(body, "password"))
    return jsonify(user_json(user)), 201


@bp.post("/auth/token")
def token():
    """Exchange email and password for a sign-in token."""
    body = json_body()
    user = sign_in(string_field(body, "email"), string_field(body, "password"))
    settings = services().settings
    return jsonify({"access_token": tokens.issue_access_token(user, settings), "token_type": "bearer",
                    "expires_in": settings.jwt_ttl_seconds})


@bp.post("/auth/apikey")
@token_required
def api_key():
    """A long-lived personal API key; every older token and key stops working."""
    settings = services().settings
    key = tokens.issue_api_key(_user_id(), settings)
    return jsonify({"access_token": key, "token_type": "bearer",
                    "expires_in": settings.api_token_ttl_days * 86400})


@bp.get("/me")
@token_required
def me():
    """The caller's profile and balance."""
    return jsonify(user_json(identity().user))


@bp.post("/me/password")
@token_required
def change_password():
    """{"current_password", "new_password"} -> 204; every token and API key issued before (this
    one included) stops working: sign in again with the new password."""
    body = json_body()
    change_password_checked(_user_id(), string_field(body, "current_password"), string_field(body, "new_password"))
    return "", 204


@bp.get("/transactions")
@token_required
def transactions():
    """The caller's ledger, newest first."""
    return jsonify(page_json(billing.ledger(_user_id(), page_arg()), entry_json))


@bp.post("/jobs")
@token_required
def create_job():
    """Upload an image; it is charged and queued (202), or refused without charge."""
    limits.check_submission(services().limiter, _user_id())
    upload = request.files.get("image")
    if upload is None:
        raise BadRequest("Send the image as the multipart field 'image'.")
    fields = request.form.to_dict()
    if not all(isinstance(name, str) for name in fields):  # werkzeug yields None for a garbled field name
        raise BadRequest("The form has a field without a readable name.")
    options = parse_options(fields)  # unknown fields are refused too
    data = upload.read()
    svc = services()
    job = jobs.submit_job(_user_id(), data, options, settings=svc.settings, storage=svc.storage,
                          queue=svc.queue, source=JobSource.API, input_name=(upload.filename or "").replace("\x00", ""),
                          idempotency_key=request.headers.get("Idempotency-Key"))
    # A job is queued when it is made; a repeated request gets that same first answer.
    response = jsonify({"id": job.id, "status": JobStatus.QUEUED, "price": job.price})
    response.headers["Location"] = f"{bp.url_prefix}/jobs/{job.id}"
    return response, 202


@bp.get("/jobs")
@token_required
def list_jobs():
    """The caller's jobs, newest first."""
    return jsonify(page_json(jobs.list_jobs(_user_id(), page_arg()), job_json))


@bp.get("/jobs/<job_id>")
@token_required
def get_job(job_id: str):
    """One of the caller's jobs (someone else's is 404). With ?wait=N the answer comes as soon as
    the job is finished, or after N seconds. The wait is a preference, as RFC 7240's: while too
    many requests already wait it comes at once, with Retry-After, and a client that wants the
    final status pauses that long before it asks again."""
    wait, waiters = wait_arg(), services().waiters
    if not wait:
        return jsonify(_one_job_json(jobs.get_job(job_id, _user_id())))
    if not waiters.acquire(blocking=False):
        job = jobs.get_job(job_id, _user_id())
        response = jsonify(_one_job_json(job))
        if not job.is_finished:
            response.headers["Retry-After"] = "1"
        return response
    try:
        return jsonify(_one_job_json(services().finished.wait(job_id, _user_id(), timeout=wait)))
    finally:
        waiters.release()


def _one_job_json(job) -> dict:
    return job_json(job, position=jobs.queue_position(job.id) if job.status == JobStatus.QUEUED else None)


@bp.post("/jobs/<job_id>/render")
@token_required
def render_job(job_id: str):
    """The done job's photo made again with other options (JSON object or form fields: mode,
    bg_color, crop, margin, format, scale, position; what is left out stays as it was; a
    multipart `bg_image` puts the subject on that picture) from its kept mask: no model, no
    queue. 200 with the file; PRICE_PER_RENDER credits (X-Credits-Charged)."""
    changes = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if not isinstance(changes, dict) or not all(isinstance(name, str) for name in changes):
        raise BadRequest("Send the options as a JSON object or as form fields.")
    upload = request.files.get("bg_image")
    svc = services()
    rendered = renders.render_job(job_id, _user_id(), changes, settings=svc.settings, storage=svc.storage,
                                  limiter=svc.limiter, background=upload.read() if upload else None)
    response = Response(rendered.data, mimetype=rendered.content_type)
    response.headers["Content-Disposition"] = results.attachment(
        rendered.filename, "attachment" if request.args.get("download") else "inline")
    response.headers["X-Render-Id"] = str(rendered.render_id)
    response.headers["X-Credits-Charged"] = str(rendered.price)
    return response


@bp.get("/jobs/<job_id>/thumbnail")
@token_required
def job_thumbnail(job_id: str):
    """A small WebP of the done result (at most 256 px a side), made once and kept."""
    return _picture(previews.thumbnail(job_id, _user_id(), services().storage), "image/webp")


@bp.get("/jobs/<job_id>/original")
@token_required
def job_original(job_id: str):
    """The photo as it was sent, upright, at most 1280 px a side (JPEG), for before and after."""
    return _picture(previews.original(job_id, _user_id(), services().storage), "image/jpeg")


def _picture(data: bytes, content_type: str) -> Response:
    response = Response(data, mimetype=content_type)
    response.headers["Cache-Control"] = "private, max-age=86400"  # a job's pictures never change
    return response


@bp.get("/jobs/<job_id>/result")
@token_required
def job_result(job_id: str):
    """The finished image with its content type; 409 until the job is done, 410 once purged. With
    STORAGE_PRESIGN, a 302 to a time-limited URL of the bucket instead of the bytes."""
    svc, download = services(), bool(request.args.get("download"))
    if svc.settings.storage_presign:
        url = results.result_url(job_id, svc.storage, _user_id(), seconds=svc.settings.storage_presign_seconds,
                                 download=download)
        if url:
            response = redirect(url, code=302)
            response.headers["Cache-Control"] = "private, no-store"
            return response
    result = results.result_file(job_id, svc.storage, _user_id())
    response = Response(result.data, mimetype=result.content_type)
    if download:
        response.headers["Content-Disposition"] = results.attachment(result.filename)
    return response
