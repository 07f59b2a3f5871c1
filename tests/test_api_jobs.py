"""REST API jobs: submit, refuse without charge, list, read, download; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from core import accounts, billing, jobs
from core.models import Job
from tests.support.images import encode, subject_image
from tests.support.panel import Panel, png
from tests.test_api import assert_error


@pytest.fixture
def panel(settings):
    return Panel.build(settings)


def nothing_charged(panel, user, credits: int = 3) -> None:
    """The refused request left no charge, no job, no message and no stored file."""
    assert billing.balance(user.id).total == credits
    assert Job.select().where(Job.user == user.id).count() == 0
    assert panel.queue.depth(panel.settings.input_queue) == 0
    assert list(panel.storage.root.rglob("input")) == []


def test_submit_charges_queues_and_answers_202(panel):
    user = panel.user(credits=3)
    response = panel.submit(user)
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"id", "status", "price"}
    assert (body["status"], body["price"]) == ("queued", panel.settings.price_per_image)
    assert response.headers["Location"] == f"/api/v1/jobs/{body['id']}"
    assert billing.balance(user.id).total == 2
    assert panel.queue.depth(panel.settings.input_queue) == 1
    assert jobs.get_job(body["id"]).source == "api"


def test_submit_keeps_the_options(panel):
    user = panel.user()
    job = panel.job(user, mode="color", bg_color="#00ff00", crop="true")
    assert (job.options.mode, job.options.bg_color, job.options.crop) == ("color", "#00ff00", True)
    assert job.input_name == "photo.png"


def test_submit_without_credits_is_402_and_charges_nothing(panel):
    user = panel.user(credits=0)
    assert_error(panel.submit(user), 402, "insufficient_credits")
    nothing_charged(panel, user, 0)


def test_submit_not_an_image_is_415_and_charges_nothing(panel):
    user = panel.user()
    assert_error(panel.submit(user, data=b"%PDF-1.4 not an image"), 415, "invalid_image")
    nothing_charged(panel, user)


def test_submit_too_many_pixels_is_413_and_charges_nothing(panel):
    panel = Panel.build(replace(panel.settings, max_pixels=100))
    user = panel.user()
    assert_error(panel.submit(user, data=png((20, 20))), 413, "image_too_large")
    nothing_charged(panel, user)


def test_submit_over_the_byte_limit_is_413(panel):
    panel = Panel.build(replace(panel.settings, max_upload_bytes=2000))
    user = panel.user()
    noisy = encode(subject_image((64, 64)).effect_spread(10), "BMP")
    assert len(noisy) > 2000
    assert_error(panel.submit(user, data=noisy), 413, "image_too_large")
    nothing_charged(panel, user)


def test_body_over_max_content_length_is_json_413(panel):
    panel = Panel.build(replace(panel.settings, max_upload_bytes=1000))
    user = panel.user()
    huge = b"\x89PNG" + b"\0" * (panel.app.config["MAX_CONTENT_LENGTH"] + 10)
    assert_error(panel.submit(user, data=huge), 413, "image_too_large")
    nothing_charged(panel, user)


@pytest.mark.parametrize("options", [{"mode": "banana"}, {"bg_color": "red"}, {"crop": "maybe"},
                                     {"colour": "#ffffff"}, {"margin": "99"}])
def test_submit_with_bad_options_is_400_and_charges_nothing(panel, options):
    user = panel.user()
    assert_error(panel.submit(user, **options), 400, "invalid_options")
    nothing_charged(panel, user)


def test_submit_without_an_image_field_is_400(panel):
    user = panel.user()
    response = panel.client.post("/api/v1/jobs", data={"mode": "png"}, headers=panel.auth(user),
                                 content_type="multipart/form-data")
    assert_error(response, 400, "bad_request")
    nothing_charged(panel, user)


def test_submit_by_a_blocked_user_is_refused(panel):
    user = panel.user()
    headers = panel.auth(user)
    accounts.block_user(user.id)
    response = panel.client.post("/api/v1/jobs", data={"image": (io.BytesIO(png()), "a.png")}, headers=headers,
                                 content_type="multipart/form-data")
    assert_error(response, 401)
    nothing_charged(panel, user)


def test_list_jobs_shows_only_the_callers_jobs(panel):
    user, other = panel.user(), panel.user()
    mine = [panel.job(user).id for _ in range(2)]
    panel.job(other)
    body = panel.client.get("/api/v1/jobs", headers=panel.auth(user)).get_json()
    assert sorted(j["id"] for j in body["items"]) == sorted(mine)
    assert body["total"] == 2


def test_get_job_shows_its_status(panel):
    user = panel.user()
    job = panel.job(user)
    body = panel.client.get(f"/api/v1/jobs/{job.id}", headers=panel.auth(user)).get_json()
    assert (body["id"], body["status"], body["result_url"]) == (job.id, "queued", None)
    panel.finish(job.id)
    body = panel.client.get(f"/api/v1/jobs/{job.id}", headers=panel.auth(user)).get_json()
    assert (body["status"], body["result_url"]) == ("done", f"/api/v1/jobs/{job.id}/result")


def test_a_queued_job_tells_its_place_in_line_until_it_leaves_it(panel):
    user, other = panel.user(), panel.user()
    ahead = panel.job(other)
    job = panel.job(user)

    def position(job_id, wait=""):
        return panel.client.get(f"/api/v1/jobs/{job_id}{wait}", headers=panel.auth(user)).get_json()["position"]

    assert position(job.id) == 2  # another person's photo is ahead of it
    panel.finish(ahead.id)
    assert position(job.id) == 1
    assert panel.client.get("/api/v1/jobs", headers=panel.auth(user)).get_json()["items"][0]["position"] is None
    panel.finish(job.id)
    assert position(job.id, "?wait=1") is None


def test_someone_elses_job_is_404(panel):
    owner, intruder = panel.user(), panel.user()
    job = panel.job(owner)
    panel.finish(job.id)
    for path in (f"/api/v1/jobs/{job.id}", f"/api/v1/jobs/{job.id}/result"):
        assert_error(panel.client.get(path, headers=panel.auth(intruder)), 404, "job_not_found")


@pytest.mark.parametrize("job_id", ["nope", "00000000-0000-0000-0000-000000000000", "../../etc/passwd"])
def test_unknown_job_is_404(panel, job_id):
    user = panel.user()
    assert panel.client.get(f"/api/v1/jobs/{job_id}", headers=panel.auth(user)).status_code == 404


def test_result_before_done_is_409(panel):
    user = panel.user()
    job = panel.job(user)
    assert_error(panel.client.get(f"/api/v1/jobs/{job.id}/result", headers=panel.auth(user)), 409, "job_not_ready")
    jobs.start_job(job.id)
    jobs.fail_job(job.id, "boom")
    assert_error(panel.client.get(f"/api/v1/jobs/{job.id}/result", headers=panel.auth(user)), 409)


@pytest.mark.parametrize(("content_type", "data"), [("image/png", png()), ("image/webp", b"RIFF....WEBPVP8 ")])
def test_result_is_the_image_with_its_content_type(panel, content_type, data):
    user = panel.user()
    job = panel.job(user)
    panel.finish(job.id, data=data, content_type=content_type)
    response = panel.client.get(f"/api/v1/jobs/{job.id}/result", headers=panel.auth(user))
    assert response.status_code == 200
    assert response.mimetype == content_type
    assert response.data == data
    assert "Content-Disposition" not in response.headers


def test_result_download_is_an_attachment(panel):
    user = panel.user()
    job = panel.job(user)  # uploaded as photo.png
    panel.finish(job.id)
    response = panel.client.get(f"/api/v1/jobs/{job.id}/result?download=1", headers=panel.auth(user))
    assert response.headers["Content-Disposition"] == 'attachment; filename="photo-cutout.png"'


def test_a_download_name_beyond_ascii_is_encoded_for_the_header(panel):
    user = panel.user()
    job = panel.job(user, name="котик.png")
    panel.finish(job.id)
    response = panel.client.get(f"/api/v1/jobs/{job.id}/result?download=1", headers=panel.auth(user))
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"_____-cutout.png\"; filename*=UTF-8''%D0%BA%D0%BE%D1%82%D0%B8%D0%BA-cutout.png")


def test_result_whose_file_was_purged_is_410(panel):
    user = panel.user()
    job = panel.finish(panel.job(user).id)
    panel.storage.delete(job.output_key)
    assert_error(panel.client.get(f"/api/v1/jobs/{job.id}/result", headers=panel.auth(user)), 410, "result_gone")


def test_the_api_has_the_same_in_flight_limit_as_the_bot(panel):
    user = panel.user(credits=10)
    for _ in range(panel.settings.max_jobs_in_flight):
        assert panel.submit(user).status_code == 202
    response = panel.submit(user)
    assert_error(response, 429, "too_many_jobs")
    assert billing.balance(user.id).total == 10 - panel.settings.max_jobs_in_flight  # the refused one is free
