"""The OpenAPI 3 document of the REST API, health and metrics (kept beside the routes it describes)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from admin_panel.api import MAX_PAGE, MAX_WAIT_SECONDS
from admin_panel.api_admin import JOB_STATUSES
from core.enums import AdminActionKind
from core.images import ACCEPTED_FORMATS, FORMAT_NAMES
from core.options import FORMATS, MODES
from core.removebg import SIZES, TYPES

bp = Blueprint("openapi", __name__)

BEARER = [{"bearerAuth": []}]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict:
    text = {400: "Bad request", 401: "No valid token", 402: "Not enough credits", 403: "Forbidden",
            404: "Not found", 409: "Conflict with the job's state", 410: "The result's file is gone",
            413: "Too large", 415: "Not an image", 429: "Too many attempts", 502: "Telegram refused or is unreachable",
            503: "Briefly unavailable: the database cannot be reached for now (Retry-After)"}
    return {str(s): _json(text[s], _ref("Error")) for s in statuses}


def _op(summary: str, ok: dict, *errors: int, auth: bool = True, params=(), body: dict | None = None,
        tag: str = "user") -> dict:
    op = {"summary": summary, "tags": [tag], "responses": {**ok, **_errors(*errors, 503)}}
    if auth:
        op["security"] = BEARER
    if params:
        op["parameters"] = list(params)
    if body:
        op["requestBody"] = body
    return op


def _param(name: str, where: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema}


PAGE = _param("page", "query", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1})
JOB_ID = _param("job_id", "path", {"type": "string", "format": "uuid"})
CHARGE_ID = _param("charge_id", "path", {"type": "string", "minLength": 1, "maxLength": 255})
USER_ID = _param("user_id", "path", {"type": "integer", "minimum": 1, "maximum": 2147483647})
CREDENTIALS = {"required": True, "content": {"application/json": {"schema": _ref("Credentials")}}}


def _nullable(kind: str, **extra) -> dict:
    return {"type": kind, "nullable": True, **extra}


SCHEMAS = {
    "Error": {"type": "object", "required": ["error", "message"],
              "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
    "Credentials": {"type": "object", "required": ["email", "password"],
                    "properties": {"email": {"type": "string", "format": "email"}, "password": {"type": "string"}}},
    "Token": {"type": "object", "required": ["access_token", "token_type", "expires_in"],
              "properties": {"access_token": {"type": "string"}, "token_type": {"type": "string", "enum": ["bearer"]},
                             "expires_in": {"type": "integer"}}},
    "PasswordChange": {"type": "object", "required": ["current_password", "new_password"], "properties": {
        "current_password": {"type": "string"}, "new_password": {"type": "string", "minLength": 8}}},
    "Balance": {"type": "object", "required": ["bonus", "paid", "total"],
                "properties": {k: {"type": "integer"} for k in ("bonus", "paid", "total")}},
    "User": {"type": "object", "required": ["id", "role", "balance", "is_blocked"], "properties": {
        "id": {"type": "integer"}, "email": _nullable("string"), "telegram_id": _nullable("integer"),
        "username": _nullable("string"), "name": {"type": "string"},
        "role": {"type": "string", "enum": ["user", "admin"]},
        "is_blocked": {"type": "boolean"}, "language": {"type": "string"}, "balance": _ref("Balance"),
        "created_at": {"type": "string", "format": "date-time"}}},
    "JobOptions": {"type": "object", "properties": {
        "mode": {"type": "string", "enum": list(MODES)}, "bg_color": {"type": "string"}, "crop": {"type": "boolean"},
        "margin": {"type": "integer"}, "format": {"type": "string", "enum": list(FORMATS)},
        "scale": {"type": "integer"}, "position": {"type": "string"}}},
    "Job": {"type": "object", "required": ["id", "status", "price"], "properties": {
        "id": {"type": "string", "format": "uuid"}, "user_id": {"type": "integer"},
        "status": {"type": "string", "enum": list(JOB_STATUSES)}, "price": {"type": "integer"},
        "position": _nullable("integer", description="Place in line while queued (1: next), in answers about "
                              "one job; null in lists and once the job has left the line"),
        "source": {"type": "string"}, "options": _ref("JobOptions"), "attempts": {"type": "integer"},
        "error": _nullable("string"), "input_name": _nullable("string"),
        "input_format": _nullable("string", description=f"The photo's format: {', '.join(sorted(ACCEPTED_FORMATS))}"),
        "first_frame_only": {"type": "boolean", "description": "An animation: only its first frame was cut out"},
        "width": _nullable("integer"),
        "height": _nullable("integer"), "content_type": _nullable("string"), "result_url": _nullable("string"),
        "render_url": _nullable("string"), "model": _nullable("string"),
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": _nullable("string", format="date-time"), "finished_at": _nullable("string", format="date-time")}},
    "JobAccepted": {"type": "object", "required": ["id", "status", "price"], "properties": {
        "id": {"type": "string", "format": "uuid"}, "status": {"type": "string"}, "price": {"type": "integer"}}},
    "LedgerEntry": {"type": "object", "required": ["id", "kind", "amount", "bucket"], "properties": {
        "id": {"type": "integer"}, "user_id": {"type": "integer"}, "kind": {"type": "string"},
        "amount": {"type": "integer"}, "bucket": {"type": "string", "enum": ["bonus", "paid"]},
        "status": {"type": "string"}, "balance_after": {"type": "integer"}, "job_id": _nullable("string"),
        "note": _nullable("string"), "created_at": {"type": "string", "format": "date-time"}}},
    "UserDetail": {"allOf": [_ref("User"), {"type": "object", "properties": {
        "transactions": {"type": "array", "items": _ref("LedgerEntry")},
        "jobs": {"type": "array", "items": _ref("Job")}}}]},
    "Adjustment": {"type": "object", "required": ["amount", "reason"], "properties": {
        "amount": {"type": "integer", "minimum": -1_000_000, "maximum": 1_000_000,
                   "description": "Non-zero; negative takes credits (bonus first)."},
        "reason": {"type": "string", "minLength": 1}, "bucket": {"type": "string", "enum": ["bonus", "paid"]}}},
    "AdjustmentResult": {"type": "object", "required": ["user_id", "balance"],
                         "properties": {"user_id": {"type": "integer"}, "balance": _ref("Balance")}},
    "Stats": {"type": "object", "properties": {
        "users": {"type": "integer"}, "jobs_today": {"type": "object", "additionalProperties": {"type": "integer"}},
        "jobs_week": {"type": "object", "additionalProperties": {"type": "integer"}},
        "jobs_all": {"type": "object", "additionalProperties": {"type": "integer"}},
        "credits_sold": {"type": "integer"}, "credits_sold_week": {"type": "integer"},
        "failure_rate": _nullable("number"), "mean_processing_seconds": _nullable("number"),
        "queue_depth": _nullable("integer"), "payments_reconciled": {"type": "integer"},
        "jobs_per_day": {"type": "array", "items": {"type": "object", "properties": {
            "date": {"type": "string", "format": "date"}, "count": {"type": "integer"}}}}}},
    "Refund": {"type": "object", "required": ["credits_taken", "shortfall"], "properties": {
        "credits_taken": {"type": "integer", "description": "What was left of the purchase's credits"},
        "shortfall": {"type": "integer", "description": "Credits of the purchase already spent"},
        "note": _nullable("string"), "created_at": {"type": "string", "format": "date-time"}}},
    "Payment": {"type": "object", "required": ["charge_id", "user_id", "credits", "refund"], "properties": {
        "charge_id": {"type": "string"}, "user_id": {"type": "integer"}, "telegram_id": _nullable("integer"),
        "credits": {"type": "integer"}, "note": _nullable("string"),
        "created_at": {"type": "string", "format": "date-time"},
        "refund": {"allOf": [_ref("Refund")], "nullable": True}}},
    "AdminAction": {"type": "object", "required": ["id", "action", "created_at"], "properties": {
        "id": {"type": "integer"}, "admin_id": _nullable("integer", description="None: the command line"),
        "admin": {"type": "string"}, "action": {"type": "string", "enum": list(AdminActionKind)},
        "user_id": _nullable("integer"), "user": _nullable("string"), "subject": _nullable("string"),
        "reason": _nullable("string"), "detail": _nullable("string"),
        "created_at": {"type": "string", "format": "date-time"}}},
    "Health": {"type": "object", "required": ["status"], "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "database": {"type": "string", "enum": ["ok", "unreachable"], "description": "With the metrics token"},
        "queue": {"type": "string", "enum": ["ok", "blocked", "unreachable"], "description": "With the metrics token"},
        "error": {"type": "string"}, "message": {"type": "string"}}},
}


def _page_of(item: str) -> dict:
    return {"type": "object", "required": ["items", "page", "per_page", "total", "pages"], "properties": {
        "items": {"type": "array", "items": _ref(item)}, "page": {"type": "integer"},
        "per_page": {"type": "integer"}, "total": {"type": "integer"}, "pages": {"type": "integer"}}}


UPLOAD = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["image"], "properties": {
        "image": {"type": "string", "format": "binary", "description": f"The photo: {FORMAT_NAMES}"},
        "mode": {"type": "string", "enum": list(MODES)},
        "bg_color": {"type": "string", "pattern": "^#?[0-9a-fA-F]{6}$"},
        "crop": {"type": "boolean"},
        "margin": {"type": "integer", "minimum": 0, "maximum": 50},
        "format": {"type": "string", "enum": list(FORMATS), "description": "png; webp (lossless, transparency "
                   "kept) for the png and color modes; jpeg for color. The file carries the photo's colour profile"},
        "scale": {"type": "string", "description": "The subject's share of the frame: 10% to 100%, or original"},
        "position": {"type": "string", "description": "original, center, or one or two of 0% to 100%"}}}}}}
_OPTIONS = {"type": "object", "additionalProperties": False, "properties": {
    key: value for key, value in UPLOAD["content"]["multipart/form-data"]["schema"]["properties"].items()
    if key != "image"}}
_RENDER_FORM = {**_OPTIONS, "properties": {**_OPTIONS["properties"], "bg_image": {
    "type": "string", "format": "binary", "description": "A picture to put the subject on (colour mode)"}}}
RENDER = {"required": False, "content": {"application/json": {"schema": _OPTIONS},
                                         "multipart/form-data": {"schema": _RENDER_FORM}}}
IMAGE = {"description": "The result image", "content": {
    t: {"schema": {"type": "string", "format": "binary"}} for t in ("image/png", "image/webp", "image/jpeg")}}


def _admin(summary: str, ok: dict, *errors: int, **kwargs) -> dict:
    return _op(summary, ok, 401, 403, *errors, tag="admin", **kwargs)


REASON = {"required": False, "content": {"application/json": {"schema": {
    "type": "object", "properties": {"reason": {"type": "string", "maxLength": 500}}}}}}


def _user_action(summary: str, *errors: int) -> dict:
    return {"post": _admin(summary, {"200": _json("The user", _ref("User"))}, 400, 404, *errors, params=[USER_ID],
                           body=REASON)}


REMOVEBG_ERRORS = {"type": "object", "required": ["errors"], "properties": {
    "errors": {"type": "array", "items": {"type": "object", "required": ["title", "code"], "properties": {
        "title": {"type": "string"}, "code": {"type": "string"}, "detail": {"type": "string"}}}},
    "job_id": {"type": "string", "description": "On 504: the job, whose result /api/v1/jobs/<id> gives later"}}}
REMOVEBG_FIELDS = {
    "image_file": {"type": "string", "format": "binary", "description": f"The photo: {FORMAT_NAMES}"},
    "image_file_b64": {"type": "string"},
    "image_url": {"type": "string", "description": "Only with ALLOW_IMAGE_URLS=true; public addresses only"},
    "size": {"type": "string", "enum": list(SIZES), "default": "preview"},
    "type": {"type": "string", "enum": list(TYPES)},
    "format": {"type": "string", "enum": ["auto", "png", "jpg", "webp", "zip"]},
    "channels": {"type": "string", "enum": ["rgba", "alpha"]},
    "bg_color": {"type": "string", "description": "Hex of 3, 6 or 8 digits, or a colour name"},
    "bg_image_file": {"type": "string", "format": "binary"},
    "bg_image_url": {"type": "string"},
    "crop": {"type": "boolean"},
    "crop_margin": {"type": "string", "description": "px or %, one, two or four values; at most 50% or 500px"},
    "scale": {"type": "string", "description": "10% to 100%, or original"},
    "position": {"type": "string", "description": "original, center, or one or two values of 0% to 100%"},
    "roi": {"type": "string", "description": "x1 y1 x2 y2 in px or %"},
    "semitransparency": {"type": "boolean", "description": "Accepted; no effect"},
}
_REMOVEBG_BODY = {"type": "object", "properties": REMOVEBG_FIELDS}
_REMOVEBG_JSON = {"type": "object", "properties": {k: v for k, v in REMOVEBG_FIELDS.items() if "format" not in v
                                                   or v["format"] != "binary"}}
_RATE_HEADERS = {name: {"schema": {"type": "integer"}} for name in
                 ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")}


def _removebg_error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": REMOVEBG_ERRORS}}}


REMOVEBG_PATHS = {
    "/v1.0/removebg": {"post": {
        "summary": "remove.bg's API: the image without its background (waits up to SYNC_TIMEOUT_SECONDS)",
        "tags": ["remove.bg"], "security": [{"apiKey": []}, *BEARER],
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _REMOVEBG_BODY},
                                                      "application/x-www-form-urlencoded": {"schema": _REMOVEBG_JSON},
                                                      "application/json": {"schema": _REMOVEBG_JSON}}},
        "responses": {
            "200": {"description": "The result (or, with Accept: application/json, its base64 and the foreground box)",
                    "headers": {"X-Credits-Charged": {"schema": {"type": "integer"}},
                                "X-Width": {"schema": {"type": "integer"}}, "X-Height": {"schema": {"type": "integer"}},
                                "X-Type": {"schema": {"type": "string"}}, **_RATE_HEADERS},
                    "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}, "application/zip": {},
                                "application/json": {"schema": {"type": "object", "properties": {"data": {
                                    "type": "object", "properties": {
                                        "result_b64": {"type": "string"}, "foreground_top": {"type": "integer"},
                                        "foreground_left": {"type": "integer"},
                                        "foreground_width": {"type": "integer"},
                                        "foreground_height": {"type": "integer"}}}}}}}},
            "400": _removebg_error("Bad input (remove.bg's error codes); nothing charged"),
            "402": _removebg_error("Not enough credits"),
            "403": _removebg_error("Authentication failed"),
            "429": _removebg_error("Rate limited (Retry-After)"),
            "503": _removebg_error("Briefly unavailable: the database cannot be reached for now (Retry-After)"),
            "504": _removebg_error("Not finished in time; the job goes on (job_id)"),
        }}},
    "/v1.0/account": {"get": {
        "summary": "remove.bg's account: credits (bonus as subscription, bought as payg) and free previews left",
        "tags": ["remove.bg"], "security": [{"apiKey": []}, *BEARER],
        "responses": {"200": _json("The account", {"type": "object", "properties": {"data": {"type": "object"}}}),
                      "403": _removebg_error("Authentication failed"),
                      "503": _removebg_error("Briefly unavailable (Retry-After)")}}},
}

PATHS = {
    "/api/v1/auth/register": {"post": _op(
        "Create an account (the signup bonus for at most SIGNUP_BONUS_PER_ADDRESS_PER_DAY per address and day)",
        {"201": _json("Created", _ref("User"))}, 400, 429, auth=False, body=CREDENTIALS)},
    "/api/v1/auth/token": {"post": _op("Get a sign-in token", {"200": _json("A token", _ref("Token"))},
                                       400, 401, 403, 429, auth=False, body=CREDENTIALS)},
    "/api/v1/auth/apikey": {"post": _op("Get a personal API key (revokes older keys and tokens)",
                                        {"200": _json("A key", _ref("Token"))}, 401, 403)},
    "/api/v1/me": {"get": _op("The caller's profile and balance", {"200": _json("Profile", _ref("User"))}, 401)},
    "/api/v1/me/password": {"post": _op(
        "Change the password; every token and API key issued before (this one included) stops working",
        {"204": {"description": "Changed: sign in again with the new password"}}, 400, 401, 403, 429,
        body={"required": True, "content": {"application/json": {"schema": _ref("PasswordChange")}}})},
    "/api/v1/transactions": {"get": _op("The caller's ledger", {"200": _json("A page", _page_of("LedgerEntry"))},
                                        400, 401, params=[PAGE])},
    "/api/v1/jobs": {
        "get": _op("The caller's jobs", {"200": _json("A page", _page_of("Job"))}, 400, 401, params=[PAGE]),
        "post": _op("Submit an image; a repeat with the same Idempotency-Key (within 24 h) returns the first "
                    "answer and charges nothing, and one with another image or options is 409",
                    {"202": _json("Queued", _ref("JobAccepted"))}, 400, 401, 402, 403, 409, 413, 415, 429,
                    body=UPLOAD, params=[_param("Idempotency-Key", "header",
                                                {"type": "string", "minLength": 1, "maxLength": 255,
                                                 "pattern": "^[!-~]+$"})])},
    "/api/v1/jobs/{job_id}": {"get": _op(
        "One of the caller's jobs; with wait=N, answered as soon as it is finished or after N seconds "
        "(at once, with Retry-After, while too many requests wait)",
        {"200": _json("The job", _ref("Job"))}, 400, 401, 404,
        params=[JOB_ID, _param("wait", "query", {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS,
                                                 "default": 0})])},
    "/api/v1/jobs/{job_id}/result": {"get": _op(
        "The finished image; with STORAGE_PRESIGN a 302 to a time-limited URL of the bucket",
        {"200": IMAGE, "302": {"description": "Redirect to a presigned URL of the file"}}, 401, 404, 409, 410,
        params=[JOB_ID, _param("download", "query", {"type": "string", "enum": ["1"]})])},
    "/api/v1/jobs/{job_id}/thumbnail": {"get": _op(
        "A small WebP of the done result (at most 256 px a side), made once and kept",
        {"200": {"description": "The thumbnail", "content": {"image/webp": {"schema": {
            "type": "string", "format": "binary"}}}}}, 401, 403, 404, 409, 410, params=[JOB_ID])},
    "/api/v1/jobs/{job_id}/original": {"get": _op(
        "The photo as sent, upright, at most 1280 px a side, for before and after",
        {"200": {"description": "The original", "content": {"image/jpeg": {"schema": {
            "type": "string", "format": "binary"}}}}}, 401, 403, 404, 410, params=[JOB_ID])},
    "/api/v1/jobs/{job_id}/render": {"post": _op(
        "The done photo made again with other options from its kept mask (no model run; options left "
        "out stay as they were); PRICE_PER_RENDER credits, at most MAX_RENDERS_PER_JOB times",
        {"200": IMAGE}, 400, 401, 402, 403, 404, 409, 410, 429,
        params=[JOB_ID, _param("download", "query", {"type": "string", "enum": ["1"]})], body=RENDER)},
    "/api/v1/admin/users": {"get": _admin("Search users", {"200": _json("A page", _page_of("User"))}, 400,
                                          params=[_param("q", "query", {"type": "string"}), PAGE])},
    "/api/v1/admin/users/{user_id}": {"get": _admin("One user", {"200": _json("The user", _ref("UserDetail"))},
                                                    404, params=[USER_ID])},
    "/api/v1/admin/users/{user_id}/credits": {"post": _admin(
        "Adjust a user's credits with a reason", {"200": _json("New balance", _ref("AdjustmentResult"))}, 400, 402,
        404, params=[USER_ID],
        body={"required": True, "content": {"application/json": {"schema": _ref("Adjustment")}}})},
    "/api/v1/admin/users/{user_id}/block": _user_action("Block a user"),
    "/api/v1/admin/users/{user_id}/unblock": _user_action("Unblock a user"),
    "/api/v1/admin/users/{user_id}/promote": _user_action("Make a user an admin"),
    "/api/v1/admin/users/{user_id}/demote": _user_action("Take the admin role away (never from the last admin)", 409),
    "/api/v1/admin/audit": {"get": _admin("The audit log of admin actions, newest first",
                                          {"200": _json("A page", _page_of("AdminAction"))}, 400, params=[
        _param("action", "query", {"type": "string", "enum": list(AdminActionKind)}),
        _param("admin_id", "query", {"type": "integer", "minimum": 1, "maximum": 2147483647}),
        _param("user_id", "query", {"type": "integer", "minimum": 1, "maximum": 2147483647}), PAGE])},
    "/api/v1/admin/jobs": {"get": _admin("All jobs", {"200": _json("A page", _page_of("Job"))}, 400, params=[
        _param("status", "query", {"type": "string", "enum": list(JOB_STATUSES)}), PAGE])},
    "/api/v1/admin/jobs/{job_id}/retry": {"post": _admin("Retry a failed job (charges again)",
                                                         {"200": _json("The job", _ref("Job"))}, 402, 404, 409,
                                                         params=[JOB_ID])},
    "/api/v1/admin/payments/{charge_id}": {"get": _admin(
        "A Telegram Stars payment and its refund", {"200": _json("The payment", _ref("Payment"))}, 404,
        params=[CHARGE_ID])},
    "/api/v1/admin/payments/{charge_id}/refund": {"post": _admin(
        "Refund a Stars payment (refundStarPayment) and take its credits back",
        {"200": _json("The refunded payment", _ref("Payment"))}, 400, 404, 409, 502, params=[CHARGE_ID],
        body=REASON)},
    "/api/v1/admin/stats": {"get": _admin("Dashboard numbers", {"200": _json("Stats", _ref("Stats"))})},
    **REMOVEBG_PATHS,
    "/api/v1/openapi.json": {"get": _op("This document", {"200": _json("OpenAPI 3", {"type": "object"})},
                                        auth=False, tag="meta")},
    "/healthz": {"get": _op("Database and queue reachable (each one's state for the metrics token)",
                            {"200": _json("Healthy", _ref("Health")), "503": _json("Unavailable", _ref("Health"))},
                            auth=False, tag="meta")},
    "/metrics": {"get": _op("Prometheus metrics, for Authorization: Bearer <METRICS_TOKEN>",
                            {"200": {"description": "Text exposition format", "content": {
                                "text/plain": {"schema": {"type": "string"}}}}}, 401, 403, auth=False, tag="meta")},
}


def document() -> dict:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Cutout API", "version": "1.0.0",
                 "description": "Background removal paid for with credits. Errors: {error, message}."},
        "paths": PATHS,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                                           "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}},
    }


@bp.get("/api/v1/openapi.json")
def openapi_json():
    """The OpenAPI document."""
    return jsonify(document())
