"""The bot's commands, menus, settings and texts, through python-telegram-bot on a fake Bot API."""

from __future__ import annotations

import dataclasses
import re
import string

import pytest

from bot.app import heartbeat_file
from bot.texts import CATALOGUE, text
from core import accounts, billing, deliveries, jobs, tokens
from core.accounts import language_for
from core.health import is_fresh
from core.storage import DirectoryStore
from tests.support.bot_harness import BotHarness, running_bot, wait_until
from tests.support.bot_updates import Person
from tests.support.fake_bot_api import TOKEN
from tests.support.images import encode, subject_image


@pytest.fixture
def bot(sqlite_settings):
    with running_bot(sqlite_settings) as harness:
        yield harness


@pytest.fixture
def ann():
    return Person(5001, language="en", first_name="Ann")


def last_text(bot) -> str:
    return bot.api.sent_texts()[-1]


def test_menu_is_set_in_english_by_default_and_in_russian(bot):
    menus = bot.api.calls_to("setMyCommands")
    assert [call.params.get("language_code") for call in menus] == [None, "ru"]
    english = {c["command"]: c["description"] for c in menus[0].params["commands"]}
    russian = {c["command"]: c["description"] for c in menus[1].params["commands"]}
    assert set(english) == set(russian) >= {"start", "help", "balance", "history", "buy", "paysupport",
                                             "settings", "apikey", "web", "cancel"}
    assert english["balance"] == "Your credits" and russian["balance"] == "Ваши кредиты"


def test_start_registers_once_and_gives_the_bonus_once(bot, ann):
    bot.send(ann.text("/start"))
    assert "You got 3 free credits" in last_text(bot) and "Balance: 3 credits" in last_text(bot)
    bot.send(ann.text("/start"))
    assert last_text(bot).startswith("Welcome back, Ann! Balance: 3 credits.")
    user = accounts.get_user_by_telegram_id(ann.id)
    assert user.balance.bonus == 3
    assert [entry.kind for entry in billing.ledger(user.id).items] == ["signup_bonus"]


def test_start_greets_in_russian_for_a_russian_client(bot):
    ivan = Person(5002, language="ru", first_name="Иван")
    bot.send(ivan.text("/start"))
    assert last_text(bot).startswith("Привет, Иван!")
    assert accounts.get_user_by_telegram_id(ivan.id).language == "ru"


def test_help_lists_the_commands(bot, ann):
    bot.send(ann.text("/help"))
    assert all(f"/{name}" in last_text(bot) for name in ("settings", "balance", "history", "buy", "cancel"))


def test_balance_shows_bonus_and_paid_credits(bot, ann):
    bot.send(ann.text("/start"))
    user = accounts.get_user_by_telegram_id(ann.id)
    billing.top_up(user.id, 10, payment_id="charge-1")
    bot.send(ann.text("/balance"))
    assert last_text(bot) == "Balance: 13 credits (3 bonus + 10 paid). One photo costs 1."


def test_balance_registers_a_person_who_never_sent_start(bot, ann):
    bot.send(ann.text("/balance"))
    assert last_text(bot).startswith("Balance: 3 credits")


def test_history_lists_recent_jobs_and_ledger_entries(bot, ann):
    bot.send(ann.text("/history"))
    user = accounts.get_user_by_telegram_id(ann.id)
    job = jobs.create_job(user.id, encode(subject_image()), None, settings=bot.settings,
                          storage=DirectoryStore(bot.settings.storage_dir), input_name="cat.png")
    jobs.fail_job(job.id, "boom")
    bot.send(ann.text("/history"))
    history = last_text(bot)
    assert "Recent photos:" in history and "cat.png · failed, refunded" in history
    assert "+3 bonus · welcome bonus" in history and "-1 bonus · photo" in history and "+1 bonus · refund" in history


def test_cancel_refunds_queued_jobs_and_marks_their_status(bot, ann):
    bot.send(ann.text("/start"))
    user = accounts.get_user_by_telegram_id(ann.id)
    job = jobs.create_job(user.id, encode(subject_image()), None, settings=bot.settings,
                          storage=DirectoryStore(bot.settings.storage_dir), chat_id=ann.id)
    deliveries.set_status_message(job.id, 777)
    assert billing.balance(user.id).total == 2
    bot.send(ann.text("/cancel"))
    assert last_text(bot) == "Cancelled 1 photo(s) waiting in line; their credits were refunded."
    assert jobs.get_job(job.id).status == "cancelled"
    assert billing.balance(user.id).total == 3
    edit = bot.api.calls_to("editMessageText")[-1]
    assert edit.params["message_id"] == 777 and "Cancelled" in edit.text
    bot.send(ann.text("/cancel"))
    assert last_text(bot) == "No photos are waiting in line."


def test_paysupport_explains_refunds(bot, ann):
    bot.send(ann.text("/paysupport"))
    assert "refund" in last_text(bot).lower() and "Stars" in last_text(bot)


def test_plain_text_and_unknown_commands_get_a_hint(bot, ann):
    bot.send(ann.text("hello"))
    assert last_text(bot) == text("en", "text_hint")
    bot.send(ann.text("/frobnicate"))
    assert last_text(bot) == text("en", "unknown_command")


def test_settings_buttons_change_the_stored_options(bot, ann):
    bot.send(ann.text("/settings"))
    menu = bot.api.calls_to("sendMessage")[-1]
    assert menu.text == "Output for your next photos: transparent PNG, not cropped."
    assert "✅ Transparent PNG" in [b["text"] for b in menu.buttons]

    bot.send(ann.press("opt:mode:sticker"))
    user = accounts.get_user_by_telegram_id(ann.id)
    assert user.options.mode == "sticker"
    assert bot.api.calls_to("answerCallbackQuery")
    assert "✅ Sticker" in [b["text"] for b in bot.api.calls_to("editMessageText")[-1].buttons]

    bot.send(ann.press("opt:crop"))
    assert accounts.get_user_by_telegram_id(ann.id).options.crop is True
    bot.send(ann.press("opt:color:ffffff"))
    options = accounts.get_user_by_telegram_id(ann.id).options
    assert (options.mode, options.bg_color, options.crop) == ("color", "#ffffff", True)
    assert last_text(bot) == "Output for your next photos: colour white behind the subject, cropped to the subject."


def test_settings_other_colours_open_a_palette_and_store_the_choice(bot, ann):
    bot.send(ann.press("opt:colors"))
    palette = bot.api.calls_to("editMessageText")[-1]
    assert palette.text == text("en", "colors_title")
    assert {"Black", "Blue", "« Back"} <= {b["text"] for b in palette.buttons}
    bot.send(ann.press("opt:color:1e88e5"))
    options = accounts.get_user_by_telegram_id(ann.id).options
    assert (options.mode, options.bg_color) == ("color", "#1e88e5")
    bot.send(ann.press("opt:mode:mask"))
    assert accounts.get_user_by_telegram_id(ann.id).options.mode == "mask"
    assert len(bot.api.calls_to("answerCallbackQuery")) == 3


def test_pressing_the_option_already_chosen_changes_nothing(bot, ann):
    bot.send(ann.press("opt:mode:png"))
    bot.api.fail_next("editMessageText", 400, "Bad Request: message is not modified")
    bot.send(ann.press("opt:mode:png"))
    assert accounts.get_user_by_telegram_id(ann.id).options.mode == "png"


def test_apikey_issues_a_key_and_a_second_call_revokes_the_first(bot, ann):
    bot.send(ann.text("/apikey"))
    first = re.search(r"<code>([\w.-]+)</code>", last_text(bot)).group(1)
    assert bot.api.calls_to("sendMessage")[-1].params["parse_mode"] == "HTML"
    assert tokens.verify_token(first, bot.settings).typ == "api"
    bot.send(ann.text("/apikey"))
    second = re.search(r"<code>([\w.-]+)</code>", last_text(bot)).group(1)
    assert tokens.verify_token(second, bot.settings).user_id == accounts.get_user_by_telegram_id(ann.id).id
    with pytest.raises(Exception, match="revoked"):
        tokens.verify_token(first, bot.settings)


def test_web_sends_a_one_time_sign_in_link(bot, ann):
    bot.send(ann.text("/web"))
    link = re.search(r"(https?://\S+)", last_text(bot)).group(1)
    assert link.startswith(bot.settings.public_url)
    user = tokens.redeem_login_link(link, bot.settings)
    assert user.telegram_id == ann.id


def test_blocked_users_get_no_api_key_and_no_link(bot, ann):
    bot.send(ann.text("/start"))
    accounts.block_user(accounts.get_user_by_telegram_id(ann.id).id)
    bot.send(ann.text("/apikey"))
    assert last_text(bot) == text("en", "account_blocked")
    bot.send(ann.text("/web"))
    assert last_text(bot) == text("en", "account_blocked")


def test_a_handler_error_is_logged_and_the_person_told(sqlite_settings, ann, monkeypatch):
    settings = dataclasses.replace(sqlite_settings, telegram_bot_token=TOKEN)
    monkeypatch.setattr(billing, "ledger", lambda *a, **k: 1 / 0)
    with BotHarness(settings) as harness:
        harness.send(ann.text("/history"))
        assert [type(e) for e in harness.errors] == [ZeroDivisionError]
        assert harness.api.sent_texts()[-1] == text("en", "try_again")


def test_both_languages_have_the_same_messages_and_placeholders():
    fields = {lang: {key: {f for _, f, _, _ in string.Formatter().parse(value) if f}
                     for key, value in messages.items()} for lang, messages in CATALOGUE.items()}
    assert fields["ru"] == fields["en"]


def test_language_follows_the_language_code_with_english_otherwise():
    assert [language_for(code) for code in ("ru", "ru-RU", "en-GB", "de", None, "")] == \
        ["ru", "ru", "en", "en", "en", "en"]


def test_a_running_bot_keeps_its_heartbeat_file_fresh(bot):
    path = heartbeat_file(bot.settings)
    assert wait_until(lambda: is_fresh(path, 60))
