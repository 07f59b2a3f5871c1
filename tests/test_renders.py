"""Keep the mask, and make a done photo again with other options from it: no model run, the
owner only, PRICE_PER_RENDER charged once per render, limits per job and per minute, nothing
rendered (or charged) once the photo is purged."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from core import billing, jobs, renders
from core.audit import check_ledger
from core.models import Render, Transaction
from core.retention import purge_files
from core.storage import mask_key, output_key
from tests.support.images import decode, encode, subject_image
from tests.support.panel import Panel
from tests.support.threads import at_once
from worker.handler import JobHandler
from worker.pipeline import process_image


def do_job(panel: Panel, engine, job_id: str) -> None:
    """The worker's part, with the real pipeline on the tiny model: the output and the mask kept."""
    job = jobs.start_job(job_id)
    result = process_image(panel.storage.get(job.input_key), job.options, engine, max_bytes=10**8, max_pixels=10**8)
    panel.storage.put(output_key(job_id, job.options.extension), result.data)
    panel.storage.put(mask_key(job_id), result.mask_png)
    assert jobs.complete_job(job_id, output_key=output_key(job_id, job.options.extension),
                             content_type=result.content_type, mask_key=mask_key(job_id), model="tiny")


@pytest.fixture
def no_model(engine, monkeypatch):
    """The model, made to fail: a render that ran it would raise."""
    def refuse(*args, **kwargs):
        raise AssertionError("a re-render ran the model")

    monkeypatch.setattr(engine, "predict_mask", refuse)


def make(settings, **overrides) -> Panel:
    return Panel.build(replace(settings, **overrides))


def render(panel: Panel, user, job_id: str, **changes):
    return panel.client.post(f"/api/v1/jobs/{job_id}/render", json=changes, headers=panel.auth(user))


# --- the mask is kept ---


def test_the_worker_keeps_the_mask_and_the_model_and_purge_deletes_it(sqlite_settings, engine, memory_queue):
    panel = make(sqlite_settings)
    user = panel.user()
    job = panel.job(user, data=encode(subject_image((60, 40))))
    handler = JobHandler(sqlite_settings, memory_queue, panel.storage, engine, stop=None)
    handler({"job_id": job.id})
    done = jobs.get_job(job.id)
    assert done.status == "done" and done.mask_key == mask_key(job.id) and done.model == engine.model_name
    mask = decode(panel.storage.get(done.mask_key))
    assert mask.mode == "L" and mask.size == (60, 40)
    assert purge_files(panel.storage, timedelta(seconds=-1)) == 1
    assert not panel.storage.exists(done.mask_key) and not panel.storage.exists(done.input_key)


# --- renders through the API ---


@pytest.fixture
def done(sqlite_settings, engine):
    """A panel, its user and a done job whose mask is kept (made before the model is refused)."""
    panel = make(sqlite_settings)
    user = panel.user(credits=5)
    job = panel.job(user, data=encode(subject_image((90, 60))))
    do_job(panel, engine, job.id)
    return panel, user, job


def test_the_buttons_options_each_make_their_file_without_the_model(done, no_model):
    panel, user, job = done
    white = render(panel, user, job.id, mode="color", bg_color="#ffffff")
    assert white.status_code == 200 and white.mimetype == "image/png" and white.headers["X-Credits-Charged"] == "0"
    image = decode(white.data)
    assert image.mode == "RGB" and image.size == (90, 60) and image.getpixel((1, 1)) == (255, 255, 255)
    sticker = render(panel, user, job.id, mode="sticker")
    assert sticker.mimetype == "image/webp" and max(decode(sticker.data).size) == 512
    cropped = decode(render(panel, user, job.id, crop=True).data)
    assert cropped.mode == "RGBA" and cropped.size[0] < 90
    transparent = decode(render(panel, user, job.id, mode="png").data)
    assert transparent.getchannel("A").getextrema()[0] == 0
    assert Render.select().count() == 4 and billing.balance(user.id).total == 4  # 5 - the photo, renders free


def test_a_foreign_unfinished_unmasked_or_purged_job_is_refused_and_never_charged(done, sqlite_settings):
    panel, user, job = done
    stranger = panel.user()
    assert render(panel, stranger, job.id, mode="sticker").status_code == 404
    queued = panel.job(user)
    assert render(panel, user, queued.id, mode="sticker").get_json()["error"] == "job_not_ready"
    old = panel.finish(panel.job(user).id)  # done before masks were kept
    refused = render(panel, user, old.id, mode="sticker")
    assert refused.status_code == 409 and refused.get_json()["error"] == "render_unavailable"
    panel.storage.delete(mask_key(job.id))
    gone = render(panel, user, job.id, mode="sticker")
    assert gone.status_code == 410 and "no longer stored" in gone.get_json()["message"]
    assert render(panel, user, job.id, mode="nonsense").status_code == 400
    assert Render.select().count() == 0


def test_a_priced_render_is_charged_once_and_refused_without_credits(sqlite_settings, engine):
    panel = make(sqlite_settings, price_per_render=2)
    user = panel.user(credits=4)  # 1 for the photo: 3 left
    job = panel.job(user, data=encode(subject_image()))
    do_job(panel, engine, job.id)
    first = render(panel, user, job.id, mode="sticker")
    assert first.status_code == 200 and first.headers["X-Credits-Charged"] == "2"
    assert billing.balance(user.id).total == 1
    poor = render(panel, user, job.id, mode="color")
    assert poor.status_code == 402 and Render.select().count() == 1
    [charge] = Transaction.select().where(Transaction.kind == "render")
    assert charge.amount == -2 and f"render {first.headers['X-Render-Id']}" in charge.note
    assert check_ledger() == []


def test_renders_are_limited_per_job_and_per_minute(sqlite_settings, engine):
    panel = make(sqlite_settings, max_renders_per_job=2)
    user = panel.user()
    job = panel.job(user, data=encode(subject_image()))
    do_job(panel, engine, job.id)
    assert [render(panel, user, job.id, mode="sticker").status_code for _ in range(3)] == [200, 200, 429]
    quick = make(sqlite_settings, max_renders_per_minute=1)
    hasty = quick.user()
    job = quick.job(hasty, data=encode(subject_image()))
    do_job(quick, engine, job.id)
    assert render(quick, hasty, job.id, mode="sticker").status_code == 200
    second = render(quick, hasty, job.id, mode="sticker")
    assert second.status_code == 429 and int(second.headers["Retry-After"]) >= 1


def test_concurrent_priced_renders_never_overdraw_on_postgresql(pg_settings, engine):
    panel = make(pg_settings, price_per_render=1, max_renders_per_minute=100)
    user = panel.user(credits=4)  # 3 left after the photo
    job = panel.job(user, data=encode(subject_image()))
    do_job(panel, engine, job.id)
    settings = panel.settings
    outcomes = at_once(*[lambda: renders.render_job(job.id, user.id, {"mode": "sticker"}, settings=settings,
                                                    storage=panel.storage) for _ in range(6)])
    made = [outcome for outcome in outcomes if isinstance(outcome, renders.RenderedFile)]
    assert len(made) == 3 and billing.balance(user.id).total == 0
    assert Render.select().count() == 3 and check_ledger() == []


def test_a_job_says_whether_it_can_be_made_again_and_by_which_model(done, sqlite_settings):
    panel, user, job = done
    shown = panel.client.get(f"/api/v1/jobs/{job.id}", headers=panel.auth(user)).get_json()
    assert shown["render_url"] == f"/api/v1/jobs/{job.id}/render" and shown["model"] == "tiny"
    old = panel.finish(panel.job(user).id)  # no mask kept
    assert panel.client.get(f"/api/v1/jobs/{old.id}", headers=panel.auth(user)).get_json()["render_url"] is None


# --- product shots: scale, position, a background picture ---


def test_scale_and_position_place_the_subject_for_a_product_shot(done, no_model):
    panel, user, job = done
    response = render(panel, user, job.id, mode="color", bg_color="#ffffff", scale="80%", position="0% 100%")
    assert response.status_code == 200, response.get_json()
    image = decode(response.data)
    # The subject (45x30, the middle of 90x60) scaled to 80% of the canvas: 72x48, bottom left.
    red = [(x, y) for x in range(image.width) for y in range(image.height) if image.getpixel((x, y))[1] < 100]
    xs, ys = [x for x, _ in red], [y for _, y in red]
    assert min(xs) <= 3 and max(ys) >= image.height - 3 and 40 <= max(ys) - min(ys) <= 50  # 29 px before
    assert image.getpixel((image.width - 2, 1)) == (255, 255, 255)
    bad = render(panel, user, job.id, scale="5%")
    assert bad.status_code == 400 and "scale" in bad.get_json()["message"]


def test_a_background_picture_goes_behind_the_subject(done, no_model):
    panel, user, job = done
    from io import BytesIO

    from PIL import Image

    backdrop = encode(Image.new("RGB", (300, 200), (0, 160, 0)), "PNG")
    response = panel.client.post(f"/api/v1/jobs/{job.id}/render", data={"bg_image": (BytesIO(backdrop), "bg.png")},
                                 headers=panel.auth(user), content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    image = decode(response.data).convert("RGB")
    assert image.getpixel((1, 1)) == (0, 160, 0) and image.getpixel((30, 20))[0] > 200
    broken = panel.client.post(f"/api/v1/jobs/{job.id}/render", data={"bg_image": (BytesIO(b"nope"), "bg.png")},
                               headers=panel.auth(user), content_type="multipart/form-data")
    assert broken.status_code == 415


def test_options_stored_by_a_newer_version_still_read():
    """Mid-deploy, an older process reads a job a newer one wrote: unknown keys are left out."""
    from core.options import JobOptions

    stored = '{"mode": "color", "bg_color": "#ff0000", "shadow": "soft"}'
    assert JobOptions.from_json(stored) == JobOptions(mode="color", bg_color="#ff0000")
