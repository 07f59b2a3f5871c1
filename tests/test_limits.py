"""Limits that hold across processes and hosts: counted in the database, so two panel apps (two
gunicorn workers, two replicas) share them; per address behind the proxy; 429 with Retry-After;
a flood from one address does not keep the owner out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from admin_panel import limiter as limits
from core import accounts, ratelimit
from core.models import RateLimit
from core.ratelimit import FREE_FAILURES, Limiter, Rule
from tests.support.panel import Panel
from tests.test_api import assert_error

PASSWORD = "correct-horse-42"
ATTACKER, OWNER = "203.0.113.9", "198.51.100.4"


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def replicas(pg_settings, clock):
    """Two panels on one PostgreSQL behind one proxy: what two replicas (or gunicorn workers) are."""
    settings = replace(pg_settings, panel_proxies=1, signup_bonus_credits=3)
    return [Panel.build(settings, limiter=Limiter(clock=clock)) for _ in range(2)]


def via(address: str) -> dict:
    return {"X-Forwarded-For": address}


def sign_in(panel, email, password, address):
    return panel.client.post("/api/v1/auth/token", json={"email": email, "password": password},
                             headers=via(address))


def register(panel, email, address):
    return panel.client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD},
                             headers=via(address))


def test_a_sign_in_flood_from_one_address_does_not_keep_the_owner_out(replicas, clock):
    first, second = replicas
    accounts.register_email_user("owner@example.com", PASSWORD)
    answers = []
    for n in range(12):
        answers.append(sign_in(replicas[n % 2], "owner@example.com", f"guess-{n}-wrong", ATTACKER).status_code)
        clock.now += 1
    assert answers[:FREE_FAILURES] == [401] * FREE_FAILURES and 429 in answers  # slowed on both replicas
    refused = sign_in(first, "owner@example.com", PASSWORD, ATTACKER)  # even the right password, from there
    assert_error(refused, 429, "too_many_attempts")
    assert int(refused.headers["Retry-After"]) >= 1
    assert sign_in(second, "owner@example.com", PASSWORD, OWNER).status_code == 200


def test_failures_counted_by_one_replica_slow_down_the_other(replicas, clock):
    first, second = replicas
    for n in range(FREE_FAILURES):
        assert sign_in(first, f"user{n}@example.com", "wrong-pass-1", ATTACKER).status_code == 401
    assert_error(sign_in(second, "other@example.com", "wrong-pass-1", ATTACKER), 429, "too_many_attempts")
    clock.now += 3
    assert sign_in(second, "other@example.com", "wrong-pass-1", ATTACKER).status_code == 401


def test_the_fourth_registration_of_an_address_in_a_day_gets_no_bonus(replicas, clock):
    bonuses = []
    for n in range(4):
        response = register(replicas[n % 2], f"new{n}@example.com", ATTACKER)
        assert response.status_code == 201, response.get_json()
        bonuses.append(response.get_json()["balance"]["bonus"])
        clock.now += 61  # past the per-minute limit
    assert bonuses == [3, 3, 3, 0]
    assert register(replicas[0], "elsewhere@example.com", OWNER).get_json()["balance"]["bonus"] == 3
    clock.now += 86400
    assert register(replicas[1], "tomorrow@example.com", ATTACKER).get_json()["balance"]["bonus"] == 3


def test_a_burst_of_registrations_gets_429_with_retry_after(replicas, clock):
    answers = [register(replicas[n % 2], f"burst{n}@example.com", ATTACKER) for n in range(8)]
    assert [a.status_code for a in answers] == [201] * 5 + [429] * 3
    assert_error(answers[-1], 429, "too_many_attempts")
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert accounts.count_users() == 5
    assert register(replicas[0], "other-host@example.com", OWNER).status_code == 201
    clock.now += 60
    assert register(replicas[1], "later@example.com", ATTACKER).status_code == 201


def test_job_submissions_are_limited_per_account(replicas, monkeypatch):
    monkeypatch.setattr(limits, "JOBS_PER_MINUTE", Rule("jobs", 2, 60))
    first, second = replicas
    user = first.user(credits=10)
    answers = [panel.submit(user).status_code for panel in (first, second, first)]
    assert answers[:2] == [202, 202]
    assert_error(first.submit(user), 429, "too_many_attempts")
    assert second.submit(first.user(credits=10)).status_code == 202  # another account is not held up


def test_a_window_counts_atomically_and_old_counters_are_forgotten(pg_settings, clock):
    limiter = Limiter(clock=clock)
    rule = Rule("t", 3, 60)
    assert [limiter.hit(rule, "a") for _ in range(4)][:3] == [0, 0, 0]
    assert limiter.hit(rule, "a") > 0 and limiter.hit(rule, "b") == 0
    clock.now += 3 * 86400
    assert ratelimit.forget_old(clock.now) == 2 and RateLimit.select().count() == 0


def test_the_wait_grows_with_each_failure(pg_settings, clock):
    limiter = Limiter(clock=clock)
    waits = []
    for _ in range(FREE_FAILURES + 3):
        limiter.fail(["k"])
        waits.append(limiter.failure_wait(["k"]))
    assert waits == [0] * (FREE_FAILURES - 1) + [2, 4, 8, 16]
    clock.now += 16 * 60
    assert limiter.failure_wait(["k"]) == 0


def test_ipv6_clients_are_counted_by_their_network(sqlite_settings):
    panel = Panel.build(replace(sqlite_settings, panel_proxies=1))
    seen = []
    panel.app.add_url_rule("/_address", "address", lambda: seen.append(limits.client_address()) or "")
    for address in ("2001:db8:1:2:aaaa::1", "2001:db8:1:2:bbbb::2", "::ffff:192.0.2.7", "192.0.2.8"):
        panel.client.get("/_address", headers=via(address))
    assert seen == ["2001:db8:1:2::/64", "2001:db8:1:2::/64", "192.0.2.7", "192.0.2.8"]
