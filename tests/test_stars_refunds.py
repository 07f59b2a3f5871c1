"""Refunds of Stars payments: from the admin API and panel (refundStarPayment), from Telegram's
refunded_payment updates and from reconciliation; each recorded once, never more than the purchase."""

from __future__ import annotations

import dataclasses

import pytest

from bot.payments import payload_for
from bot.texts import text
from core import accounts, audit, billing, payments
from core.enums import Bucket
from core.models import Transaction, User
from tests.support.bot_harness import BotHarness
from tests.support.bot_updates import Person
from tests.support.fake_bot_api import TOKEN, FakeBotApi
from tests.support.fake_bot_api_server import FakeBotApiServer
from tests.support.panel import Panel, form, html
from tests.test_api import assert_error

PACKAGES = "10:50,50:200"


@pytest.fixture
def telegram():
    with FakeBotApiServer(FakeBotApi(TOKEN)) as server:
        yield server


@pytest.fixture
def settings(pg_settings, telegram):
    """Money on PostgreSQL; the panel and the bot both talk to the fake Bot API."""
    return dataclasses.replace(pg_settings, telegram_bot_token=TOKEN, credit_packages=PACKAGES,
                               telegram_api_base_url=telegram.base_url, payment_reconcile_seconds=0,
                               signup_bonus_credits=0)


@pytest.fixture
def panel(settings):
    return Panel.build(settings)


def bought(telegram, person: Person, charge_id: str, credits: int = 10, stars: int = 50) -> int:
    """A person who paid for a package (Telegram's record and our ledger); their user id."""
    user, _ = accounts.register_telegram_user(person.id, first_name=person.user["first_name"])
    telegram.api.add_star_payment(person.user, payload_for(credits, stars), stars, charge_id)
    payments.credit_purchase(user.id, charge_id, credits, currency="XTR", paid=stars, price=stars)
    return user.id


def refund_rows(charge_id: str) -> list[Transaction]:
    return list(Transaction.select().where(Transaction.payment_id == f"refund:{charge_id}"))


def refund_via_api(panel, charge_id: str):
    return panel.client.post(f"/api/v1/admin/payments/{charge_id}/refund", headers=panel.auth(panel.admin()))


def test_an_admin_refund_gives_the_stars_back_and_takes_back_what_is_left(panel, telegram):
    user_id = bought(telegram, Person(8001), "stx-r1")
    billing.adjust_credits(user_id, -4, "spent on photos", Bucket.PAID)  # 4 of the 10 are gone
    response = refund_via_api(panel, "stx-r1")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["charge_id"], body["credits"], body["refund"]["credits_taken"], body["refund"]["shortfall"]) == (
        "stx-r1", 10, 6, 4)
    [call] = telegram.api.calls_to("refundStarPayment")
    assert (int(call.params["user_id"]), call.params["telegram_payment_charge_id"]) == (8001, "stx-r1")
    assert billing.balance(user_id).paid == 0
    [row] = refund_rows("stx-r1")
    assert (row.kind, row.amount, row.bucket) == ("payment_refund", -6, "paid") and "4 already spent" in row.note
    assert panel.client.get("/api/v1/admin/payments/stx-r1", headers=panel.auth(panel.admin())).get_json()[
        "refund"]["credits_taken"] == 6
    assert audit.check_ledger() == []


def test_a_second_refund_is_a_clear_error_and_no_second_row(panel, telegram):
    user_id = bought(telegram, Person(8002), "stx-r2")
    assert refund_via_api(panel, "stx-r2").status_code == 200
    body = assert_error(refund_via_api(panel, "stx-r2"), 409, "already_refunded")
    assert "stx-r2" in body["message"]
    assert len(refund_rows("stx-r2")) == 1 and len(telegram.api.calls_to("refundStarPayment")) == 1
    assert billing.balance(user_id).paid == 0
    assert audit.check_ledger() == []


def test_a_payment_refunded_elsewhere_is_recorded_once_when_an_admin_tries_again(panel, telegram):
    user_id = bought(telegram, Person(8003), "stx-r3")
    telegram.api.handle("refundStarPayment", {"user_id": 8003, "telegram_payment_charge_id": "stx-r3"}, {})
    assert_error(refund_via_api(panel, "stx-r3"), 409, "already_refunded")
    assert len(refund_rows("stx-r3")) == 1 and billing.balance(user_id).paid == 0
    assert_error(refund_via_api(panel, "stx-r3"), 409, "already_refunded")
    assert len(refund_rows("stx-r3")) == 1
    assert audit.check_ledger() == []


def test_a_refund_telegram_refuses_changes_nothing(panel, telegram):
    user_id = bought(telegram, Person(8004), "stx-r4")
    telegram.api.fail_next("refundStarPayment", 400, "Bad Request: BALANCE_TOO_LOW")
    body = assert_error(refund_via_api(panel, "stx-r4"), 502, "telegram_unavailable")
    assert "BALANCE_TOO_LOW" in body["message"]
    assert not refund_rows("stx-r4") and billing.balance(user_id).paid == 10


def test_unknown_payments_are_404(panel, telegram):
    for charge in ("nope", "refund:nope"):
        assert_error(refund_via_api(panel, charge), 404, "payment_not_found")
        assert_error(panel.client.get(f"/api/v1/admin/payments/{charge}", headers=panel.auth(panel.admin())),
                     404, "payment_not_found")
    assert not telegram.api.calls_to("refundStarPayment")


def test_telegram_unreachable_is_502_and_nothing_is_recorded(panel, telegram):
    bought(telegram, Person(8005), "stx-r5")
    telegram.httpd.shutdown()
    telegram.httpd.server_close()
    assert_error(refund_via_api(panel, "stx-r5"), 502, "telegram_unavailable")
    assert not refund_rows("stx-r5")


def test_the_admin_page_refunds_a_purchase_and_then_offers_no_second_refund(panel, telegram):
    user_id = bought(telegram, Person(8006), "stx-r6")
    panel.sign_in_browser(panel.admin())
    page = html(panel.client.get(f"/admin/users/{user_id}"))
    assert "/admin/payments/stx-r6/refund" in page
    response = form(panel, "/admin/payments/stx-r6/refund", {"confirm": "on"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/admin/users/{user_id}")
    page = html(panel.client.get(f"/admin/users/{user_id}"))
    assert "Payment stx-r6 refunded: 10 credit(s) taken back." in page
    assert "/admin/payments/stx-r6/refund" not in page
    form(panel, "/admin/payments/stx-r6/refund", {"confirm": "on"})
    assert "already refunded" in html(panel.client.get(f"/admin/users/{user_id}"))
    assert len(refund_rows("stx-r6")) == 1


def test_refunded_payment_updates_are_recorded_once_and_the_person_told(settings, telegram):
    ann = Person(8007)
    with BotHarness(settings, api=telegram.api) as bot:
        bot.send(ann.paid(payload_for(10, 50), 50, "stx-r7"))
        bot.send(ann.refunded(payload_for(10, 50), 50, "stx-r7"))
        bot.send(ann.refunded(payload_for(10, 50), 50, "stx-r7"))  # delivered twice
        bot.send(ann.refunded(payload_for(10, 50), 50, "stx-unknown"))  # not ours: logged, nothing recorded
        bot.assert_no_errors()
        told = bot.api.sent_texts().count(text("en", "payment_refunded", charge_id="stx-r7", credits=10))
    assert told == 1 and len(refund_rows("stx-r7")) == 1 and not refund_rows("stx-unknown")
    assert accounts.get_user_by_telegram_id(ann.id).balance.paid == 0
    assert audit.check_ledger() == []


def test_an_admin_refund_then_telegrams_update_records_one_refund(settings, telegram, panel):
    ann = Person(8008)
    with BotHarness(settings, api=telegram.api) as bot:
        bot.send(ann.paid(payload_for(50, 200), 200, "stx-r8"))
        telegram.api.add_star_payment(ann.user, payload_for(50, 200), 200, "stx-r8")
        assert refund_via_api(panel, "stx-r8").status_code == 200
        bot.send(ann.refunded(payload_for(50, 200), 200, "stx-r8"))
        assert bot.run(bot.app.bot_data["reconciler"].once()) == 0  # Telegram's record agrees
        bot.assert_no_errors()
    assert len(refund_rows("stx-r8")) == 1
    assert audit.check_ledger() == []


def test_reconciliation_records_a_refund_whose_update_was_lost(settings, telegram):
    ann = Person(8009)
    with BotHarness(settings, api=telegram.api) as bot:
        bot.send(ann.paid(payload_for(10, 50), 50, "stx-r9"))
        telegram.api.add_star_payment(ann.user, payload_for(10, 50), 50, "stx-r9")
        telegram.api.handle("refundStarPayment", {"user_id": ann.id, "telegram_payment_charge_id": "stx-r9"}, {})
        assert bot.run(bot.app.bot_data["reconciler"].once()) == 1
        assert bot.run(bot.app.bot_data["reconciler"].once()) == 0
        assert text("en", "payment_refunded", charge_id="stx-r9", credits=10) in bot.api.sent_texts()
    assert len(refund_rows("stx-r9")) == 1 and accounts.get_user_by_telegram_id(ann.id).balance.paid == 0
    assert audit.check_ledger() == []


def test_check_ledger_finds_a_refund_larger_than_its_purchase(settings, telegram):
    user_id = bought(telegram, Person(8010), "stx-small", credits=10)
    bought(telegram, Person(8010), "stx-big", credits=50, stars=200)
    User.update(paid_credits=User.paid_credits - 15).where(User.id == user_id).execute()
    Transaction.create(user=user_id, kind="payment_refund", amount=-15, bucket="paid", balance_after=45,
                       payment_id="refund:stx-small", note="too much")
    [problem] = audit.check_ledger()
    assert problem.user_id == user_id and "took back 15" in problem.message and "stx-small" in problem.message
