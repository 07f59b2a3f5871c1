"""Reconciliation with Telegram's record of Stars (getStarTransactions): a payment whose update was
lost is credited exactly once, in any order with its update and at the same time as it."""

from __future__ import annotations

import dataclasses
import functools
import logging

import pytest

from bot.payments import payload_for
from bot.texts import text
from core import accounts, audit, billing
from core.models import Transaction
from tests.support.bot_harness import BotHarness, wait_until
from tests.support.bot_updates import Person
from tests.support.fake_bot_api import TOKEN, FakeBotApi
from tests.support.threads import at_once

PACKAGES = "10:50,50:200"


@pytest.fixture
def settings(pg_settings):
    """Money on PostgreSQL; reconciliation only when a test asks for a round."""
    return dataclasses.replace(pg_settings, telegram_bot_token=TOKEN, credit_packages=PACKAGES,
                               payment_reconcile_seconds=0)


def reconcile(bot: BotHarness) -> int:
    return bot.run(bot.app.bot_data["reconciler"].once())


def topups() -> list[Transaction]:
    return list(Transaction.select().where(Transaction.kind == "topup").order_by(Transaction.id))


def paid_credits(person: Person) -> int:
    return accounts.get_user_by_telegram_id(person.id).balance.paid


def test_a_payment_whose_update_was_lost_is_credited_once_and_the_payer_told(settings):
    ann = Person(7001)
    with BotHarness(settings) as bot:
        bot.send(ann.text("/start"))
        bot.api.add_star_payment(ann.user, payload_for(10, 50), 50, "stx-lost-1")  # the bot died before its update
        assert reconcile(bot) == 1
        assert reconcile(bot) == 0
        bot.send(ann.paid(payload_for(10, 50), 50, "stx-lost-1"))  # the update turns up after all
        bot.assert_no_errors()
        texts = bot.api.sent_texts()
    assert paid_credits(ann) == 10
    [topup] = topups()
    assert topup.payment_id == "stx-lost-1" and topup.amount == 10 and "found by reconciliation" in topup.note
    assert texts.count(text("en", "payment_reconciled", charge_id="stx-lost-1", credits=10, total=13)) == 1
    assert not [t for t in texts if t.startswith("Thank you")]  # the late update says nothing more
    assert audit.check_ledger() == []


def test_a_payment_credited_by_its_update_is_left_alone_by_reconciliation(settings):
    ann = Person(7002)
    with BotHarness(settings) as bot:
        bot.send(ann.paid(payload_for(50, 200), 200, "stx-seen"))
        bot.api.add_star_payment(ann.user, payload_for(50, 200), 200, "stx-seen")
        assert reconcile(bot) == 0
        assert not bot.api.calls_to("sendMessage")[-1].text.startswith("Your payment")
    assert paid_credits(ann) == 50 and len(topups()) == 1
    assert "reconciliation" not in topups()[0].note


def test_reconciliation_runs_at_start_for_a_payer_who_never_wrote(settings):
    api = FakeBotApi(TOKEN)
    zoe = Person(7003, first_name="Zoe", username="zoe")
    api.add_star_payment(zoe.user, payload_for(10, 50), 50, "stx-before-start")
    with BotHarness(dataclasses.replace(settings, payment_reconcile_seconds=600), api=api) as bot:
        wait_until(lambda: Transaction.select().where(Transaction.payment_id == "stx-before-start").exists())
        wait_until(lambda: bot.api.calls_to("sendMessage"))
        bot.assert_no_errors()
    user = accounts.get_user_by_telegram_id(zoe.id)
    assert (user.username, user.balance.paid) == ("zoe", 10)
    assert audit.check_ledger() == []


def test_an_update_and_reconciliation_at_the_same_moment_credit_once(settings):
    """Two bot processes: one handles the successful_payment update while the other reconciles."""
    api = FakeBotApi(TOKEN)
    people = [Person(7100 + i) for i in range(6)]
    with BotHarness(settings, api=api) as first, BotHarness(settings, api=api) as second:
        for person in people:
            first.send(person.text("/start"))
        for person in people:
            charge = f"stx-race-{person.id}"
            api.add_star_payment(person.user, payload_for(10, 50), 50, charge)
            update = person.paid(payload_for(10, 50), 50, charge)
            outcomes = at_once(functools.partial(first.send, update), functools.partial(reconcile, second))
            assert not [o for o in outcomes if isinstance(o, Exception)]
        first.assert_no_errors()
        second.assert_no_errors()
    assert [paid_credits(person) for person in people] == [10] * len(people)
    assert len(topups()) == len(people)
    assert audit.check_ledger() == []


def test_reconciliation_pages_through_every_transaction_and_then_reads_on(settings):
    ann = Person(7004)
    with BotHarness(settings) as bot:
        bot.send(ann.text("/start"))
        for i in range(150):
            bot.api.add_star_payment(ann.user, payload_for(10, 50), 50, f"stx-page-{i}")
        assert reconcile(bot) == 150
        assert [c.params["offset"] for c in bot.api.calls_to("getStarTransactions")] == [0, 100]
        bot.api.add_star_payment(ann.user, payload_for(50, 200), 200, "stx-page-new")
        assert reconcile(bot) == 1
        # the next round starts a page before where the last ended (and checks the first page)
        assert [c.params["offset"] for c in bot.api.calls_to("getStarTransactions")][2:] == [0, 50, 150]
    assert paid_credits(ann) == 150 * 10 + 50
    assert audit.check_ledger() == []


def test_transactions_that_are_not_our_invoices_are_left_alone(settings):
    ann = Person(7005)
    with BotHarness(settings) as bot:
        bot.api.add_star_payment(ann.user, "paid-media:42", 5, "stx-other")
        assert reconcile(bot) == 0
    assert not topups()
    assert accounts.count_users() == 0  # nobody is registered for a payment that is not ours


def test_a_reconciled_payment_of_the_wrong_amount_is_credited_and_flagged(settings, caplog):
    ann = Person(7006)
    with BotHarness(settings) as bot:
        bot.api.add_star_payment(ann.user, payload_for(10, 50), 49, "stx-cheap")
        with caplog.at_level(logging.ERROR):
            assert reconcile(bot) == 1
    [topup] = topups()
    assert topup.amount == 10 and "paid 49 XTR, the package costs 50 XTR" in topup.note
    assert any(r.levelname == "ERROR" and "stx-cheap" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("amount", "currency"), [(49, "XTR"), (50, "USD")])
def test_a_successful_payment_that_does_not_match_its_package_is_credited_and_flagged(settings, caplog, amount,
                                                                                       currency):
    ann = Person(7007)
    with BotHarness(settings) as bot, caplog.at_level(logging.ERROR):
        bot.send(ann.paid(payload_for(10, 50), amount, "stx-odd-amount", currency=currency))
        bot.assert_no_errors()
    [topup] = topups()
    assert topup.amount == 10 and f"paid {amount} {currency}, the package costs 50 XTR" in topup.note
    assert any(r.levelname == "ERROR" and "stx-odd-amount" in r.getMessage() for r in caplog.records)
    assert billing.balance(topup.user_id).paid == 10


def test_a_failing_round_is_logged_and_the_next_one_credits(settings, caplog):
    ann = Person(7008)
    with BotHarness(settings) as bot:
        bot.api.add_star_payment(ann.user, payload_for(10, 50), 50, "stx-later")
        bot.api.fail_next("getStarTransactions", 502, "Bad Gateway")
        with pytest.raises(Exception, match="Bad Gateway"):
            reconcile(bot)
        assert not topups()
        assert reconcile(bot) == 1
    assert paid_credits(ann) == 10


def test_admins_see_the_payments_reconciliation_found(settings):
    from tests.support.panel import Panel, html

    ann = Person(7009)
    with BotHarness(settings) as bot:
        bot.send(ann.paid(payload_for(10, 50), 50, "stx-by-update"))
        bot.api.add_star_payment(ann.user, payload_for(50, 200), 200, "stx-by-reconciliation")
        assert reconcile(bot) == 1
    panel = Panel.build(settings)
    admin = panel.admin()
    assert panel.client.get("/api/v1/admin/stats", headers=panel.auth(admin)).get_json()["payments_reconciled"] == 1
    panel.sign_in_browser(admin)
    page = html(panel.client.get("/admin/"))
    found = page.split('id="reconciled"', 1)[1].split("</section>", 1)[0]
    assert "Payments found by reconciliation" in found and "(1)" in found
    assert "stx-by-reconciliation" in found and "stx-by-update" not in found
