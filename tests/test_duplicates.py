"""A photo is charged once per photo: a Telegram update delivered twice makes one job (enforced
by the database), and an API request repeated with its Idempotency-Key returns the first answer."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta

import pytest

from core import billing, jobs
from core.audit import check_ledger
from core.db import db
from core.errors import DuplicateSubmission
from core.models import IdempotencyKey, Job, utcnow
from tests.support.bot_harness import running_bot
from tests.support.bot_updates import Person
from tests.support.images import encode, subject_image
from tests.support.panel import Panel
from tests.support.threads import at_once
from tests.test_api import assert_error


def png(color=(230, 20, 20)) -> bytes:
    image = subject_image()
    image.putpixel((0, 0), color)
    return encode(image)


# --- Telegram: one job per chat message --------------------------------------------------------


def test_the_same_update_delivered_twice_makes_one_job_and_one_charge(sqlite_settings):
    ann = Person(7101)
    with running_bot(sqlite_settings) as bot:
        update = ann.photo(bot.api.add_file(png()))
        bot.send(update)
        bot.send(update)  # a webhook retry: the same update_id, the same message
        assert Job.select().count() == 1
        user = jobs.get_job(Job.get().id).user_id
        assert billing.balance(user).total == 2
        assert len(bot.api.calls_to("getFile")) == 1  # the repeat is recognised before any download
        assert check_ledger() == []


def test_the_database_refuses_a_second_job_for_one_chat_message(settings, storage, user):
    job = jobs.create_job(user.id, png(), {}, settings=settings, storage=storage, source="telegram",
                          chat_id=555, message_id=42)
    with pytest.raises(DuplicateSubmission) as raised:
        jobs.create_job(user.id, png(), {}, settings=settings, storage=storage, source="telegram",
                        chat_id=555, message_id=42)
    assert raised.value.job_id == job.id
    assert Job.select().count() == 1 and billing.balance(user.id).total == 2
    assert len(list(storage.root.glob("*/input"))) == 1  # the refused one's file is gone
    assert check_ledger() == []


def test_concurrent_deliveries_of_one_message_make_one_job(pg_settings, storage):
    from core import accounts

    owner, _ = accounts.register_telegram_user(7102, signup_bonus=5)

    def deliver():
        try:
            return jobs.create_job(owner.id, png(), {}, settings=pg_settings, storage=storage,
                                   source="telegram", chat_id=777, message_id=9)
        finally:
            db.close()

    results = at_once(*[deliver] * 4)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, DuplicateSubmission) for r in results if isinstance(r, Exception))
    assert billing.balance(owner.id).total == 4
    assert check_ledger() == []


# --- the API: Idempotency-Key ------------------------------------------------------------------


@pytest.fixture
def api(settings):
    return Panel.build(settings)


def submit(api, user, data: bytes, key: str | None = "order-17", **options):
    headers = api.auth(user) | ({"Idempotency-Key": key} if key is not None else {})
    form = {"image": (io.BytesIO(data), "photo.png"), **options}
    return api.client.post("/api/v1/jobs", data=form, headers=headers, content_type="multipart/form-data")


def test_a_repeated_request_returns_the_first_answer_and_charges_once(api):
    user = api.user(credits=3)
    first = submit(api, user, png())
    second = submit(api, user, png())
    assert (first.status_code, second.status_code) == (202, 202)
    assert second.get_json() == first.get_json()
    assert second.headers["Location"] == first.headers["Location"]
    assert Job.select().count() == 1 and billing.balance(user.id).total == 2
    assert check_ledger() == []


def test_a_repeat_after_the_job_moved_on_still_gets_the_first_answer(api):
    user = api.user(credits=3)
    first = submit(api, user, png())
    api.finish(first.get_json()["id"])
    again = submit(api, user, png())
    assert (again.status_code, again.get_json()) == (202, first.get_json())


def test_the_same_key_with_another_image_is_409_and_costs_nothing(api):
    user = api.user(credits=3)
    submit(api, user, png())
    other = submit(api, user, png(color=(0, 0, 255)))
    assert_error(other, 409, "idempotency_conflict")
    other_options = submit(api, user, png(), mode="sticker")
    assert_error(other_options, 409, "idempotency_conflict")
    assert Job.select().count() == 1 and billing.balance(user.id).total == 2


def test_keys_belong_to_their_user(api):
    ann, bob = api.user(credits=3), api.user(credits=3)
    assert submit(api, ann, png()).status_code == 202
    assert submit(api, bob, png()).status_code == 202
    assert Job.select().count() == 2


def test_a_key_is_remembered_for_a_day(api):
    user = api.user(credits=3)
    first = submit(api, user, png())
    IdempotencyKey.update(created_at=utcnow() - timedelta(hours=25)).execute()
    later = submit(api, user, png())
    assert later.status_code == 202 and later.get_json()["id"] != first.get_json()["id"]
    assert billing.balance(user.id).total == 1


def test_without_a_key_each_request_is_a_new_job(api):
    user = api.user(credits=3)
    submit(api, user, png(), key=None)
    submit(api, user, png(), key=None)
    assert Job.select().count() == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "bad key", "ключ"])
def test_a_malformed_key_is_400(api, key):
    user = api.user(credits=3)
    assert_error(submit(api, user, png(), key=key), 400, "invalid_idempotency_key")
    assert Job.select().count() == 0


def test_concurrent_repeats_of_one_key_make_one_job(pg_settings):
    api = Panel.build(replace(pg_settings, max_jobs_in_flight=10))
    user = api.user(credits=5)
    token_headers = api.auth(user)

    def post():
        client = api.app.test_client()
        form = {"image": (io.BytesIO(png()), "photo.png")}
        try:
            response = client.post("/api/v1/jobs", data=form, content_type="multipart/form-data",
                                   headers=token_headers | {"Idempotency-Key": "race-1"})
            return response.status_code, response.get_json()
        finally:
            db.close()

    answers = at_once(*[post] * 4)
    assert [status for status, _ in answers] == [202] * 4
    assert len({body["id"] for _, body in answers}) == 1
    assert Job.select().count() == 1 and billing.balance(user.id).total == 4
    assert check_ledger() == []
