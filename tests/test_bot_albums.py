"""Albums through python-telegram-bot's Application, the fake Bot API and the real worker: photos
sent together are one request with one status message; the balance's worth are taken and charged
once each, the rest are named and cost nothing; results come back one by one as replies."""

from __future__ import annotations

import json

from bot.texts import text
from core import accounts, billing, jobs
from core.audit import check_ledger
from core.enums import EntryKind
from core.errors import DatabaseUnavailable
from core.models import Job, Transaction
from tests.support.bot_harness import wait_until
from tests.support.bot_updates import Person
from tests.support.bot_workers import bot_with_workers
from tests.support.images import encode, subject_image


def send_album(bot, person: Person, count: int, group: str = "album-1", contents=None) -> list[dict]:
    """The person sends `count` photos as one album; the updates, in order."""
    updates = []
    for number in range(count):
        content = contents[number] if contents else encode(subject_image((80 + number, 60)), "JPEG")
        updates.append(person.photo(bot.api.add_file(content), media_group_id=group))
    for update in updates:
        bot.send(update)
    return updates


def album_status(bot, person: Person) -> str:
    """The album's status message as it reads now (its latest edit)."""
    edits = [call for call in bot.api.calls_to("editMessageText") if int(call.params["chat_id"]) == person.id]
    return edits[-1].text if edits else ""


def replied_to(call) -> int:
    reply = call.params["reply_parameters"]
    return int((json.loads(reply) if isinstance(reply, str) else reply)["message_id"])


def test_an_album_of_five_on_three_credits_takes_three_and_names_the_two_skipped(settings, engine, model_runs):
    """On SQLite and on PostgreSQL: the money rules are the database's."""
    with bot_with_workers(settings, engine) as bot:
        ann = Person(9101)
        bot.send(ann.text("/start"))
        updates = send_album(bot, ann, 5)
        wait_until(lambda: album_status(bot, ann) == "Album: all 3 done ✅", timeout=30)
        user = accounts.get_user_by_telegram_id(ann.id)
        taken = [update["message"]["message_id"] for update in updates[:3]]
        results = bot.api.wait_for("sendDocument", 3)
        assert sorted(replied_to(call) for call in results) == taken  # each result answers its own photo
        assert len(model_runs) == 3 and Job.select().count() == 3
        charges = Transaction.select().where(Transaction.kind == EntryKind.CHARGE)
        assert sorted(charge.amount for charge in charges) == [-1, -1, -1]  # each taken photo charged once
        assert billing.balance(user.id).total == 0 and check_ledger() == []
        statuses = [call for call in bot.api.calls_to("sendMessage") if call.text.startswith("Got your album")]
        assert [call.text for call in statuses] == ["Got your album of 5 photos."]  # one status for the album
        [skipped] = wait_until(lambda: [c for c in bot.api.calls_to("sendMessage") if c.text.startswith("Skipped")])
        assert skipped.text.startswith("Skipped 2 of your 5 photos (4, 5): you have 0 credits")
        assert replied_to(skipped) == updates[3]["message"]["message_id"]
        assert [button["callback_data"] for button in skipped.buttons] == ["buy"]
        assert not bot.api.calls_to("sendMediaGroup")
        bot.assert_no_errors()


def test_the_status_counts_the_album_as_its_photos_finish(sqlite_settings, engine):
    with bot_with_workers(sqlite_settings, engine, signup_bonus_credits=10) as bot:
        ann = Person(9102)
        bot.send(ann.text("/start"))
        send_album(bot, ann, 4)
        wait_until(lambda: album_status(bot, ann) == "Album: all 4 done ✅", timeout=30)
        said = [call.text for call in bot.api.calls_to("editMessageText")]
        assert "Album: 0 of 4 done." in said and "Album: 3 of 4 done." in said
        bot.assert_no_errors()


def test_an_album_counts_as_one_request_against_the_in_flight_limit(settings):
    """MAX_JOBS_IN_FLIGHT=1 and no worker: all four photos of the album are taken all the same."""
    with bot_with_workers(settings, None, signup_bonus_credits=10, max_jobs_in_flight=1) as bot:
        ann = Person(9103)
        bot.send(ann.text("/start"))
        send_album(bot, ann, 4)
        wait_until(lambda: album_status(bot, ann) == "Album: 0 of 4 done.")
        wait_until(lambda: bot.queue.depth(bot.settings.input_queue) == 4)  # published after the status says so
        assert Job.select().count() == 4
        bot.send(ann.photo(bot.api.add_file(encode(subject_image(), "JPEG"))))  # a second request must wait
        assert bot.api.sent_texts()[-1].startswith("You already have 1 photos in progress")
        assert Job.select().count() == 4


def test_a_photo_that_cannot_be_read_is_named_and_not_charged(sqlite_settings):
    contents = [encode(subject_image(), "JPEG"), b"not an image at all", encode(subject_image(), "JPEG")]
    with bot_with_workers(sqlite_settings, None) as bot:
        ann = Person(9104)
        bot.send(ann.text("/start"))
        send_album(bot, ann, 3, contents=contents)
        wait_until(lambda: album_status(bot, ann) == "Album: 0 of 2 done.")
        refused = wait_until(lambda: [c.text for c in bot.api.calls_to("sendMessage") if c.text.startswith("Photo 2:")])
        assert "read" in refused[0]
        user = accounts.get_user_by_telegram_id(ann.id)
        assert billing.balance(user.id).total == 1 and len(jobs.list_jobs(user.id).items) == 2


def test_an_album_delivered_twice_is_taken_once(sqlite_settings):
    with bot_with_workers(sqlite_settings, None) as bot:
        ann = Person(9105)
        bot.send(ann.text("/start"))
        updates = send_album(bot, ann, 2)
        wait_until(lambda: album_status(bot, ann) == "Album: 0 of 2 done.")
        for update in updates:  # Telegram sends the same updates again
            bot.send(update)
        send_album(bot, ann, 1, group="album-2")  # gathered after the repeat, so submitted after it
        wait_until(lambda: album_status(bot, ann) == "Album: 0 of 1 done.")
        assert Job.select().count() == 3
        assert [call.text for call in bot.api.calls_to("sendMessage") if call.text.startswith("Got your album")] == [
            "Got your album of 2 photos.", "Got your album of 1 photos."]
        user = accounts.get_user_by_telegram_id(ann.id)
        assert billing.balance(user.id).total == 0


def test_after_an_album_a_single_photo_is_still_taken(sqlite_settings):
    """The album in progress counts as one request for everything else too (MAX_JOBS_IN_FLIGHT=3)."""
    with bot_with_workers(sqlite_settings, None, signup_bonus_credits=20) as bot:
        ann = Person(9106)
        bot.send(ann.text("/start"))
        send_album(bot, ann, 5)
        wait_until(lambda: album_status(bot, ann) == "Album: 0 of 5 done.")
        bot.send(ann.photo(bot.api.add_file(encode(subject_image(), "JPEG"))))
        assert Job.select().count() == 6
        send_album(bot, ann, 2, group="album-2")
        wait_until(lambda: Job.select().count() == 8)
        bot.send(ann.photo(bot.api.add_file(encode(subject_image(), "JPEG"))))  # a 4th request: refused
        assert bot.api.sent_texts()[-1].startswith("You already have 3 photos in progress")
        assert Job.select().count() == 8


def test_photos_taken_before_the_database_went_away_go_ahead_and_the_rest_are_named(sqlite_settings, monkeypatch):
    """The second photo's job cannot be made: the first, paid for, is published all the same, the
    second is named with the outage's words, and nobody is told to send the whole album again."""
    real, made = jobs.create_job, []

    def away_after_one(*args, **kwargs):
        if made:
            raise DatabaseUnavailable()
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(jobs, "create_job", away_after_one)
    with bot_with_workers(sqlite_settings, None) as bot:
        ann = Person(9107)
        bot.send(ann.text("/start"))
        send_album(bot, ann, 2)
        named = wait_until(lambda: [c.text for c in bot.api.calls_to("sendMessage") if c.text.startswith("Photo 2:")])
        assert named == [f"Photo 2: {text('en', 'unavailable')}"]
        assert text("en", "unavailable") not in bot.api.sent_texts()  # only for the photo it concerns
        assert bot.queue.depth(bot.settings.input_queue) == 1 and made[0].status == "queued"
        assert billing.balance(accounts.get_user_by_telegram_id(ann.id).id).total == 2
