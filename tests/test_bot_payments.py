"""Buying credits with Telegram Stars, from /buy to the credited payment."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from peewee import OperationalError

from bot.payments import payload_for
from bot.texts import text
from core import accounts, audit, billing
from core.models import Transaction
from tests.support.bot_harness import BotHarness, running_bot
from tests.support.bot_updates import Person
from tests.support.fake_bot_api import TOKEN

PACKAGES = "10:50,50:200"


def bot_settings(settings):
    return dataclasses.replace(settings, telegram_bot_token=TOKEN, credit_packages=PACKAGES)


@pytest.fixture
def bot(sqlite_settings):
    with running_bot(sqlite_settings, credit_packages=PACKAGES) as harness:
        yield harness


@pytest.fixture
def ann():
    return Person(6001)


def test_buy_offers_each_package_and_sends_a_stars_invoice(bot, ann):
    bot.send(ann.text("/buy"))
    offer = bot.api.calls_to("sendMessage")[-1]
    assert [(b["text"], b["callback_data"]) for b in offer.buttons] == [
        ("10 credits · 50 ⭐", "pkg:10:50"), ("50 credits · 200 ⭐", "pkg:50:200")]
    bot.send(ann.press("pkg:50:200"))
    invoice = bot.api.calls_to("sendInvoice")[-1].params
    assert invoice["currency"] == "XTR" and invoice["provider_token"] == ""
    assert invoice["prices"] == [{"label": "50 credits", "amount": 200}]
    assert invoice["payload"] == "credits:50:200" and invoice["chat_id"] == ann.id
    assert bot.api.calls_to("answerCallbackQuery")


def test_a_package_no_longer_offered_gets_no_invoice(bot, ann):
    bot.send(ann.press("pkg:7:1"))
    assert not bot.api.calls_to("sendInvoice")
    assert bot.api.sent_texts()[-1] == text("en", "package_gone")


def test_pre_checkout_of_a_known_package_is_accepted(bot, ann):
    bot.send(ann.text("/start"))
    bot.send(ann.pre_checkout(payload_for(10, 50), 50))
    answer = bot.api.calls_to("answerPreCheckoutQuery")[-1].params
    assert answer["ok"] is True and "error_message" not in answer


@pytest.mark.parametrize(("payload", "amount", "currency"), [
    ("credits:11:50", 50, "XTR"),     # not a package
    ("credits:10:50", 49, "XTR"),     # wrong price
    ("credits:10:50", 50, "USD"),     # not Stars
    ("something-else", 50, "XTR"),    # not ours at all
])
def test_pre_checkout_of_an_unknown_package_is_refused(bot, ann, payload, amount, currency):
    bot.send(ann.text("/start"))
    bot.send(ann.pre_checkout(payload, amount, currency))
    answer = bot.api.calls_to("answerPreCheckoutQuery")[-1].params
    assert answer["ok"] is False and answer["error_message"] == text("en", "checkout_unknown_package")


def test_pre_checkout_of_a_blocked_or_unknown_user_is_refused(bot, ann):
    bot.send(ann.pre_checkout(payload_for(10, 50), 50))
    assert bot.api.calls_to("answerPreCheckoutQuery")[-1].params["error_message"] == text("en", "checkout_no_user")
    bot.send(ann.text("/start"))
    accounts.block_user(accounts.get_user_by_telegram_id(ann.id).id)
    bot.send(ann.pre_checkout(payload_for(10, 50), 50))
    answer = bot.api.calls_to("answerPreCheckoutQuery")[-1].params
    assert answer["ok"] is False and answer["error_message"] == text("en", "checkout_blocked")


def test_the_same_successful_payment_twice_credits_once(bot, ann):
    bot.send(ann.text("/start"))
    paid = ann.paid(payload_for(10, 50), 50, charge_id="stxCHARGE-1")
    bot.send(paid)
    assert bot.api.sent_texts()[-1] == "Thank you! 10 credits added. Balance: 13 credits."
    messages = len(bot.api.calls_to("sendMessage"))
    bot.send(paid)
    user = accounts.get_user_by_telegram_id(ann.id)
    assert (user.balance.bonus, user.balance.paid) == (3, 10)
    assert len(bot.api.calls_to("sendMessage")) == messages  # the repeat says nothing
    topup = Transaction.get(Transaction.kind == "topup")
    assert topup.payment_id == "stxCHARGE-1" and topup.amount == 10


def test_a_payer_who_never_wrote_gets_an_account_with_the_whole_profile(bot):
    stranger = Person(6002, first_name="Zoe", username="zoe")
    stranger.user["last_name"] = "Quinn"
    bot.send(stranger.paid(payload_for(10, 50), 50, charge_id="stxCHARGE-9"))
    user = accounts.get_user_by_telegram_id(stranger.id)
    assert (user.first_name, user.last_name, user.username) == ("Zoe", "Quinn", "zoe")  # last_name was dropped
    assert (user.balance.bonus, user.balance.paid) == (3, 10)


def test_whole_payment_flow_in_russian(bot):
    ivan = Person(6002, language="ru")
    bot.send(ivan.text("/buy"))
    bot.send(ivan.press("pkg:10:50"))
    invoice = bot.api.calls_to("sendInvoice")[-1].params
    assert invoice["title"] == "10 кредитов"
    bot.send(ivan.text("/start"))
    bot.send(ivan.pre_checkout(invoice["payload"], 50))
    assert bot.api.calls_to("answerPreCheckoutQuery")[-1].params["ok"] is True
    bot.send(ivan.paid(invoice["payload"], 50, charge_id="stx-ru"))
    assert bot.api.sent_texts()[-1] == "Спасибо! Начислено 10 кредитов. Баланс: 13 кредитов."
    assert audit.check_ledger() == []


def test_a_payment_with_a_foreign_payload_is_not_credited_and_support_is_offered(bot, ann):
    bot.send(ann.text("/start"))
    bot.send(ann.paid("mystery", 50, charge_id="stx-odd"))
    assert "stx-odd" in bot.api.sent_texts()[-1]
    assert accounts.get_user_by_telegram_id(ann.id).balance.paid == 0


def test_the_buy_button_under_a_refusal_shows_the_packages(bot, ann):
    bot.send(ann.press("buy"))
    offer = bot.api.calls_to("sendMessage")[-1]
    assert offer.text == text("en", "buy_choose") and len(offer.buttons) == 2


def test_one_payment_delivered_concurrently_to_two_bots_credits_once(pg_settings):
    """Two bot processes may both receive a redelivered update; the charge id is credited once."""
    settings = bot_settings(pg_settings)
    ann = Person(6003)
    paid = ann.paid(payload_for(50, 200), 200, charge_id="stx-race")
    with BotHarness(settings) as first, BotHarness(settings) as second:
        first.send(ann.text("/start"))
        barrier = threading.Barrier(2)

        def deliver(harness):
            barrier.wait()
            harness.send(paid)

        threads = [threading.Thread(target=deliver, args=(h,)) for h in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        first.assert_no_errors()
        second.assert_no_errors()
        thanks = [t for h in (first, second) for t in h.api.sent_texts() if t.startswith("Thank you")]
    assert len(thanks) == 1
    assert billing.balance(accounts.get_user_by_telegram_id(ann.id).id).paid == 50
    assert audit.check_ledger() == []


def test_a_payment_is_credited_even_when_the_database_fails_at_first(bot, ann, monkeypatch):
    bot.send(ann.text("/start"))
    monkeypatch.setattr("bot.payments.CREDIT_RETRY_DELAYS", (0.01, 0.01))
    real_top_up, failures = billing.top_up, []

    def flaky_top_up(*args, **kwargs):
        if len(failures) < 2:
            failures.append(1)
            raise OperationalError("database is restarting")
        return real_top_up(*args, **kwargs)

    monkeypatch.setattr(billing, "top_up", flaky_top_up)
    bot.send(ann.paid(payload_for(10, 50), 50, charge_id="stx-flaky"))
    assert bot.api.sent_texts()[-1] == "Thank you! 10 credits added. Balance: 13 credits."
    assert accounts.get_user_by_telegram_id(ann.id).balance.paid == 10


def test_a_pre_checkout_that_cannot_be_checked_is_refused_at_once(sqlite_settings, ann, monkeypatch):
    monkeypatch.setattr(accounts, "get_user_by_telegram_id", lambda *a: 1 / 0)
    with BotHarness(bot_settings(sqlite_settings)) as harness:
        harness.send(ann.pre_checkout(payload_for(10, 50), 50))
        assert [type(error) for error in harness.errors] == [ZeroDivisionError]  # logged by the error handler
        answer = harness.api.calls_to("answerPreCheckoutQuery")[-1].params
        assert answer["ok"] is False and answer["error_message"] == text("en", "try_again")


def test_a_payment_that_cannot_be_credited_is_logged_and_the_payer_told(sqlite_settings, ann, monkeypatch, caplog):
    monkeypatch.setattr("bot.payments.CREDIT_RETRY_DELAYS", (0.01,))
    monkeypatch.setattr(billing, "top_up", lambda *a, **k: (_ for _ in ()).throw(OperationalError("down")))
    with BotHarness(bot_settings(sqlite_settings)) as harness:
        harness.send(ann.paid(payload_for(10, 50), 50, charge_id="stx-lost"))
        harness.assert_no_errors()
        assert "stx-lost" in harness.api.sent_texts()[-1] and "/paysupport" in harness.api.sent_texts()[-1]
    assert any(r.levelname == "CRITICAL" and "stx-lost" in r.getMessage() for r in caplog.records)
