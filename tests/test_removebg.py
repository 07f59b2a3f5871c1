"""POST /v1.0/removebg and GET /v1.0/account, checked as an API conformance suite would check
remove.bg's published API (https://www.remove.bg/api): its parameters, answers, headers, error
codes and statuses, over Cutout's real queue, worker (the tiny model) and ledger."""

from __future__ import annotations

import base64
import io
import threading
import time
import zipfile

import pytest
from PIL import Image

from core import accounts, billing, jobs, tokens
from core.audit import check_ledger
from core.enums import JobStatus
from core.models import Job
from tests.support.images import decode, encode, subject_image
from tests.support.panel import Panel
from worker.service import start_workers

PHOTO = encode(subject_image((120, 80)), "JPEG", quality=95)  # the subject: x 30..89, y 20..59


@pytest.fixture
def removebg(settings, engine):
    """The panel with a real worker on its queue."""
    panel = Panel.build(settings)
    stop = threading.Event()
    threads = start_workers(settings, panel.queue, engine, stop, storage=panel.storage, sweep=False)
    yield panel
    stop.set()
    for thread in threads:
        thread.join(10)
    panel.app.extensions["cutout"].finished.close()


def key_of(panel: Panel, credits: int = 5) -> tuple[int, str]:
    user = panel.user(credits=credits)
    return user.id, tokens.issue_api_key(user.id, panel.settings)


def post(panel: Panel, key: str | None, *, files: dict | None = None, data: dict | None = None,
         json_body: dict | None = None, form: bool = False, accept: str | None = None):
    headers = {"X-Api-Key": key} if key else {}
    if accept:
        headers["Accept"] = accept
    if json_body is not None:
        return panel.client.post("/v1.0/removebg", json=json_body, headers=headers)
    if form:
        return panel.client.post("/v1.0/removebg", data=data, headers=headers,
                                 content_type="application/x-www-form-urlencoded")
    body = dict(data or {})
    for name, content in (files or {}).items():
        body[name] = (io.BytesIO(content), f"{name}.jpg")
    return panel.client.post("/v1.0/removebg", data=body, headers=headers, content_type="multipart/form-data")


def error_code(response) -> str:
    body = response.get_json()
    assert set(body["errors"][0]) >= {"title", "code"}, body
    return body["errors"][0]["code"]


def test_multipart_upload_answers_the_png_with_remove_bgs_headers(removebg):
    user_id, key = key_of(removebg)
    response = post(removebg, key, files={"image_file": PHOTO}, data={"size": "full"})
    assert response.status_code == 200 and response.mimetype == "image/png"
    image = decode(response.data)
    assert image.mode == "RGBA" and image.size == (120, 80)
    assert image.getpixel((60, 40))[3] > 200 and image.getpixel((5, 5))[3] < 30
    headers = response.headers
    assert headers["X-Credits-Charged"] == "1" and headers["X-Width"] == "120" and headers["X-Height"] == "80"
    assert headers["X-Type"] == "other"
    assert int(headers["X-RateLimit-Limit"]) >= int(headers["X-RateLimit-Remaining"]) >= 0
    assert headers["X-RateLimit-Reset"].isdigit()
    assert billing.balance(user_id).total == 4 and check_ledger() == []


def test_base64_in_json_and_in_a_urlencoded_form_work_alike(removebg):
    _, key = key_of(removebg)
    b64 = base64.b64encode(PHOTO).decode()
    as_json = post(removebg, key, json_body={"image_file_b64": b64, "format": "png"})
    as_form = post(removebg, key, data={"image_file_b64": b64, "format": "png"}, form=True)
    assert as_json.status_code == as_form.status_code == 200
    assert as_json.data == as_form.data


def test_accept_json_answers_base64_and_the_foreground_box(removebg):
    _, key = key_of(removebg)
    response = post(removebg, key, files={"image_file": PHOTO}, accept="application/json")
    data = response.get_json()["data"]
    assert decode(base64.b64decode(data["result_b64"])).size == (120, 80)
    assert (data["foreground_left"], data["foreground_top"]) == pytest.approx((30, 20), abs=2)
    assert (data["foreground_width"], data["foreground_height"]) == pytest.approx((60, 40), abs=3)


def test_the_output_matches_api_v1_pixel_for_pixel(removebg):
    user_id, key = key_of(removebg, credits=10)
    for mine, theirs in [({}, {}), ({"bg_color": "#3366cc", "format": "png"}, {"mode": "color", "bg_color": "#3366cc"}),
                         ({"crop": "true", "crop_margin": "5%"}, {"crop": "true", "margin": "5"})]:
        ours = post(removebg, key, files={"image_file": PHOTO}, data=mine)
        user = accounts.get_user(user_id)
        job = removebg.job(user, data=PHOTO, **theirs)
        finished = removebg.app.extensions["cutout"].finished.wait(job.id, user_id, timeout=30)
        assert finished.status == JobStatus.DONE
        reference = decode(removebg.storage.get(finished.output_key))
        assert decode(ours.data).tobytes() == reference.tobytes() and decode(ours.data).size == reference.size


def test_bg_color_takes_hex_of_3_6_8_digits_and_names(removebg):
    _, key = key_of(removebg, credits=10)
    for value, pixel in [("f00", (255, 0, 0)), ("00ff00", (0, 255, 0)), ("0000ff80", (0, 0, 255, 128)),
                         ("white", (255, 255, 255))]:
        response = post(removebg, key, files={"image_file": PHOTO}, data={"bg_color": value, "format": "png"})
        assert response.status_code == 200, value
        assert decode(response.data).getpixel((2, 2)) == pixel
    bad = post(removebg, key, files={"image_file": PHOTO}, data={"bg_color": "#12"})
    assert bad.status_code == 400 and error_code(bad) == "invalid_bg_color"


def test_format_auto_is_jpg_on_an_opaque_background_and_zip_holds_colour_and_alpha(removebg):
    _, key = key_of(removebg, credits=10)
    auto = post(removebg, key, files={"image_file": PHOTO}, data={"bg_color": "white"})
    assert auto.mimetype == "image/jpeg"
    webp = post(removebg, key, files={"image_file": PHOTO}, data={"format": "webp"})
    assert webp.mimetype == "image/webp" and decode(webp.data).format == "WEBP"
    packed = post(removebg, key, files={"image_file": PHOTO}, data={"format": "zip"})
    assert packed.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(packed.data))
    assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
    assert decode(archive.read("color.jpg")).mode == "RGB" and decode(archive.read("alpha.png")).mode == "L"


def test_channels_alpha_answers_the_mask(removebg):
    _, key = key_of(removebg)
    mask = decode(post(removebg, key, files={"image_file": PHOTO}, data={"channels": "alpha"}).data)
    assert mask.mode == "L" and mask.getpixel((60, 40)) > 200 and mask.getpixel((5, 5)) < 30


def test_bg_image_file_puts_the_subject_on_that_image(removebg):
    _, key = key_of(removebg)
    backdrop = encode(Image.new("RGB", (240, 160), (0, 200, 0)), "PNG")
    response = post(removebg, key, files={"image_file": PHOTO, "bg_image_file": backdrop}, data={"format": "png"})
    image = decode(response.data).convert("RGB")
    assert image.getpixel((2, 2)) == (0, 200, 0) and image.getpixel((60, 40))[0] > 200
    both = post(removebg, key, files={"image_file": PHOTO, "bg_image_file": backdrop}, data={"bg_color": "red"})
    assert both.status_code == 400 and error_code(both) == "multiple_bg_sources"


def test_roi_keeps_only_the_region_and_its_errors(removebg):
    _, key = key_of(removebg, credits=10)
    half = post(removebg, key, files={"image_file": PHOTO}, data={"roi": "0% 0% 50% 100%"})
    image = decode(half.data)
    assert image.getpixel((40, 40))[3] > 200 and image.getpixel((80, 40))[3] == 0
    for roi, code in [("0 0 200px 80px", "roi_exceeds_bounds"), ("50% 0% 50% 100%", "roi_region_empty"),
                      ("1 2 3", "invalid_roi")]:
        response = post(removebg, key, files={"image_file": PHOTO}, data={"roi": roi})
        assert response.status_code == 400 and error_code(response) == code, roi


def test_scale_and_position_place_the_subject(removebg):
    _, key = key_of(removebg, credits=10)
    response = post(removebg, key, files={"image_file": PHOTO}, data={"scale": "50%", "position": "0% 0%"},
                    accept="application/json")
    data = response.get_json()["data"]
    assert (data["foreground_left"], data["foreground_top"]) == pytest.approx((0, 0), abs=2)
    assert data["foreground_height"] == pytest.approx(40, abs=3)  # half the canvas's 80 px
    centred = post(removebg, key, files={"image_file": PHOTO}, data={"scale": "100%"}, accept="application/json")
    box = centred.get_json()["data"]
    assert box["foreground_height"] == pytest.approx(80, abs=3) and box["foreground_left"] == pytest.approx(0, abs=3)
    for name, value, code in [("scale", "5%", "invalid_scale"), ("position", "left", "invalid_position"),
                              ("crop_margin", "90%", "invalid_crop_margin")]:
        response = post(removebg, key, files={"image_file": PHOTO}, data={name: value, "crop": "true"})
        assert response.status_code == 400 and error_code(response) == code


def test_size_preview_is_the_default_small_and_free_up_to_the_daily_allowance(removebg):
    user_id, key = key_of(removebg, credits=1)
    big = encode(subject_image((1000, 800)), "JPEG")
    response = post(removebg, key, files={"image_file": big})  # remove.bg's default size: preview
    width, height = decode(response.data).size
    assert width * height <= 250_000 and response.headers["X-Credits-Charged"] == "0"
    assert billing.balance(user_id).total == 1
    account = removebg.client.get("/v1.0/account", headers={"X-Api-Key": key}).get_json()
    assert account["data"]["attributes"]["api"]["free_calls"] == removebg.settings.free_previews_per_day - 1


@pytest.mark.parametrize(("fields", "files", "code"), [
    ({}, {}, "missing_source"),
    ({"image_file_b64": base64.b64encode(PHOTO).decode()}, {"image_file": PHOTO}, "multiple_sources"),
    ({"size": "huge"}, {"image_file": PHOTO}, "invalid_size"),
    ({"format": "gif"}, {"image_file": PHOTO}, "invalid_format"),
    ({"channels": "rgb"}, {"image_file": PHOTO}, "invalid_channels"),
    ({}, {"image_file": b"this is not an image"}, "invalid_file_type"),
    ({}, {"image_file": PHOTO[:len(PHOTO) // 2]}, "failed_to_read_image"),  # a JPEG cut short
    ({"image_url": "http://127.0.0.1/x.jpg"}, {}, "invalid_image_url"),
])
def test_bad_input_is_400_in_remove_bgs_shape_and_charges_nothing(removebg, fields, files, code):
    user_id, key = key_of(removebg)
    response = post(removebg, key, files=files, data=fields)
    assert response.status_code == 400 and error_code(response) == code
    assert billing.balance(user_id).total == 5 and check_ledger() == []


def test_too_many_pixels_is_resolution_too_high(removebg, settings):
    panel = Panel.build(settings.__class__(**{**settings.__dict__, "max_pixels": 5000}))
    _, key = key_of(panel)
    response = post(panel, key, files={"image_file": PHOTO})
    assert response.status_code == 400 and error_code(response) == "resolution_too_high"


def test_no_subject_is_unknown_foreground_and_refunded(removebg):
    user_id, key = key_of(removebg)
    dark = encode(Image.new("RGB", (80, 60), (0, 0, 200)), "PNG")  # nothing the model calls a subject
    response = post(removebg, key, files={"image_file": dark})
    assert response.status_code == 400 and error_code(response) == "unknown_foreground"
    assert billing.balance(user_id).total == 5 and check_ledger() == []
    assert Job.get().status == JobStatus.FAILED


def test_without_credits_it_is_402_and_charges_nothing(removebg):
    user_id, key = key_of(removebg, credits=0)
    response = post(removebg, key, files={"image_file": PHOTO}, data={"size": "full"})
    assert response.status_code == 402 and error_code(response) == "insufficient_credits"
    assert Job.select().count() == 0 and check_ledger() == []


def test_a_missing_or_bad_key_is_403(removebg):
    for key in (None, "not-a-key"):
        response = post(removebg, key, files={"image_file": PHOTO})
        assert response.status_code == 403 and error_code(response) == "auth_failed"
    user = removebg.user()
    bearer = removebg.client.post("/v1.0/removebg", data={"image_file": (io.BytesIO(PHOTO), "p.jpg")},
                                  headers=removebg.auth(user), content_type="multipart/form-data")
    assert bearer.status_code == 200


def test_over_the_rate_limit_it_is_429_with_retry_after(removebg, monkeypatch):
    from admin_panel import limiter as limits
    from core.ratelimit import Rule

    monkeypatch.setattr(limits, "JOBS_PER_MINUTE", Rule("jobs", 1, 60))
    _, key = key_of(removebg)
    assert post(removebg, key, files={"image_file": PHOTO}).status_code == 200
    refused = post(removebg, key, files={"image_file": PHOTO})
    assert refused.status_code == 429 and error_code(refused) == "rate_limit_exceeded"
    assert int(refused.headers["Retry-After"]) >= 1 and refused.headers["X-RateLimit-Remaining"] == "0"


def test_a_timeout_answers_504_and_the_job_can_still_be_fetched(settings):
    """No worker at all: the request gives up after SYNC_TIMEOUT_SECONDS with the job's id."""
    panel = Panel.build(settings.__class__(**{**settings.__dict__, "sync_timeout_seconds": 1}))
    user_id, key = key_of(panel)
    response = post(panel, key, files={"image_file": PHOTO}, data={"size": "full"})
    assert response.status_code == 504 and error_code(response) == "timeout"
    job_id = response.get_json()["job_id"]
    assert response.headers["Location"] == f"/api/v1/jobs/{job_id}"
    panel.finish(job_id)
    fetched = panel.client.get(f"/api/v1/jobs/{job_id}/result", headers={"Authorization": f"Bearer {key}"})
    assert fetched.status_code == 200 and jobs.get_job(job_id).price == 1


def test_account_maps_bonus_and_paid_credits(removebg):
    user_id, key = key_of(removebg, credits=3)
    body = removebg.client.get("/v1.0/account", headers={"X-Api-Key": key}).get_json()
    credits = body["data"]["attributes"]["credits"]
    assert credits == {"total": 3, "subscription": 3, "payg": 0, "enterprise": 0}
    assert body["data"]["attributes"]["api"]["sizes"] == "all"
    assert removebg.client.get("/v1.0/account").status_code == 403


def test_the_wait_is_woken_by_the_workers_announcement(removebg):
    """The request answers within a moment of the job's end, not at the next safety read."""
    _, key = key_of(removebg)
    began = time.monotonic()
    assert post(removebg, key, files={"image_file": PHOTO}).status_code == 200
    assert time.monotonic() - began < 3.0  # the safety read comes every 5 s


def test_with_image_urls_on_this_servers_network_is_still_refused(settings):
    panel = Panel.build(settings.__class__(**{**settings.__dict__, "allow_image_urls": True}))
    user_id, key = key_of(panel)
    for field in ("image_url", "bg_image_url"):
        for url in ("http://127.0.0.1:8000/healthz", "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd"):
            fields = {field: url} if field == "image_url" else {field: url, "image_file_b64": "aGVsbG8="}
            response = post(panel, key, json_body=fields)
            assert response.status_code == 400 and error_code(response) == "invalid_image_url", (field, url)
    assert billing.balance(user_id).total == 5 and Job.select().count() == 0


def test_what_would_fail_after_the_model_is_refused_before_the_charge(removebg):
    """A background that cannot be read, a roi past the photo as it stands upright (EXIF), a WebP
    too wide: 400 before any job, so nothing is charged and no cut-out is made."""
    user_id, key = key_of(removebg)
    turned = Image.open(io.BytesIO(PHOTO))
    exif = turned.getexif()
    exif[0x0112] = 6  # rotate 90°: upright it is 80 wide and 120 high
    rotated = encode(turned, "JPEG", exif=exif.tobytes())
    wide = encode(Image.new("RGB", (17000, 20), (200, 20, 20)), "PNG")
    for files, fields, code in [({"image_file": PHOTO, "bg_image_file": b"not a picture"}, {}, "invalid_file_type"),
                                ({"image_file": rotated}, {"roi": "0px 0px 120px 80px"}, "roi_exceeds_bounds"),
                                ({"image_file": wide}, {"format": "webp", "size": "full"}, "resolution_too_high")]:
        response = post(removebg, key, files=files, data=fields)
        assert response.status_code == 400 and error_code(response) == code, code
    assert billing.balance(user_id).total == 5 and Job.select().count() == 0


def test_a_subject_outside_the_roi_is_unknown_foreground_but_its_cut_out_is_paid_for(removebg):
    """Refunding it would give away the job's full cut-out (GET /api/v1/jobs/<id>/result)."""
    user_id, key = key_of(removebg)
    response = post(removebg, key, files={"image_file": PHOTO}, data={"roi": "0px 0px 10px 10px", "size": "full"})
    assert response.status_code == 400 and error_code(response) == "unknown_foreground"
    job_id = response.get_json()["job_id"]
    assert jobs.get_job(job_id).status == JobStatus.DONE and billing.balance(user_id).total == 4
    assert check_ledger() == []


def test_an_idempotency_key_makes_a_retry_after_a_timeout_free(settings, engine):
    panel = Panel.build(settings.__class__(**{**settings.__dict__, "sync_timeout_seconds": 1}))
    user_id, key = key_of(panel)
    headers = {"X-Api-Key": key, "Idempotency-Key": "order-17"}
    upload = {"image_file": (io.BytesIO(PHOTO), "p.jpg"), "size": "full"}
    first = panel.client.post("/v1.0/removebg", data=upload, headers=headers, content_type="multipart/form-data")
    assert first.status_code == 504
    stop = threading.Event()
    threads = start_workers(settings, panel.queue, engine, stop, storage=panel.storage, sweep=False)
    try:
        upload = {"image_file": (io.BytesIO(PHOTO), "p.jpg"), "size": "full"}
        again = panel.client.post("/v1.0/removebg", data=upload, headers=headers, content_type="multipart/form-data")
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert again.status_code == 200 and Job.select().count() == 1
    assert billing.balance(user_id).total == 4 and check_ledger() == []
