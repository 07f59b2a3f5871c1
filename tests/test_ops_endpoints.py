"""/healthz and /metrics are for operators: the public learns only ok or unavailable, metrics
need METRICS_TOKEN, and a scrape does not aggregate whole tables each time."""

from __future__ import annotations

from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from admin_panel import health
from core import billing, stats
from core.db import db
from tests.support.panel import Panel
from tests.test_api import assert_error

TOKEN = "metrics-token-for-tests-0123"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def panel(sqlite_settings):
    return Panel.build(replace(sqlite_settings, metrics_token=TOKEN))


# --- /healthz ---


def test_the_public_health_check_says_only_ok(panel):
    response = panel.client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})
    detailed = panel.client.get("/healthz", headers=OPERATOR)
    assert detailed.get_json() == {"status": "ok", "database": "ok", "queue": "ok"}


def test_a_sick_queue_is_unavailable_to_the_public_and_named_to_operators(panel, monkeypatch):
    monkeypatch.setattr(panel.queue, "state", lambda: "blocked")
    body = assert_error(panel.client.get("/healthz"), 503, "unavailable")
    assert body == {"error": "unavailable", "message": "The service is unavailable.", "status": "unavailable"}
    body = assert_error(panel.client.get("/healthz", headers=OPERATOR), 503, "unavailable")
    assert (body["database"], body["queue"]) == ("ok", "blocked")
    wrong = assert_error(panel.client.get("/healthz", headers={"Authorization": "Bearer nope"}), 503)
    assert "queue" not in wrong


def test_a_database_that_does_not_answer_is_unavailable(panel, monkeypatch):
    def broken(*args, **kwargs):
        raise db.obj.OperationalError("connection refused")

    monkeypatch.setattr(db.obj, "execute_sql", broken)
    body = assert_error(panel.client.get("/healthz", headers=OPERATOR), 503, "unavailable")
    assert (body["database"], body["queue"]) == ("unreachable", "ok")


# --- /metrics ---


def test_metrics_answer_only_the_metrics_token(panel):
    assert_error(panel.client.get("/metrics"), 401, "unauthorized")
    assert panel.client.get("/metrics").headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(panel.client.get("/metrics", headers={"Authorization": "Bearer not-the-token"}), 401)
    user_token = panel.auth(panel.user(admin=True))  # not even an admin's sign-in token
    assert_error(panel.client.get("/metrics", headers=user_token), 401)
    assert panel.client.get("/metrics", headers=OPERATOR).status_code == 200


@pytest.mark.parametrize("env", ["production", "test"])
def test_without_a_metrics_token_metrics_are_off_outside_development(sqlite_settings, env):
    settings = replace(sqlite_settings, app_env=env, jwt_secret="x" * 40, metrics_token="")
    body = assert_error(Panel.build(settings).client.get("/metrics"), 403, "forbidden")
    assert "METRICS_TOKEN" in body["message"]


def test_in_development_without_a_token_metrics_stay_open(sqlite_settings):
    panel = Panel.build(replace(sqlite_settings, app_env="development", metrics_token=""))
    assert panel.client.get("/metrics").status_code == 200


def test_metrics_in_prometheus_text_format(panel):
    user = panel.user()
    billing.top_up(user.id, 10, payment_id="p-2")
    panel.finish(panel.job(user).id)
    panel.job(user)
    response = panel.client.get("/metrics", headers=OPERATOR)
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.get_data(as_text=True)
    assert 'cutout_jobs{status="done"} 1' in text
    assert 'cutout_jobs{status="queued"} 1' in text
    assert 'cutout_job_processing_seconds_bucket{le="+Inf"} 1' in text
    assert "cutout_job_processing_seconds_count 1" in text
    assert f'cutout_queue_depth{{queue="{panel.settings.input_queue}"}} 2' in text
    assert "cutout_credits_sold_total 10" in text
    families = {family.name: family for family in text_string_to_metric_families(text)}  # raises if malformed
    assert families["cutout_jobs"].type == "gauge" and families["cutout_credits_sold"].type == "counter"
    assert families["cutout_job_processing_seconds"].type == "histogram"
    declared = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(declared) == len(set(declared))  # no family twice in the two expositions joined


def test_scrapes_within_the_cache_time_run_no_aggregate_query(panel, monkeypatch):
    runs = []
    real = stats.jobs_by_status
    monkeypatch.setattr(stats, "jobs_by_status", lambda *a: runs.append(1) or real(*a))
    for _ in range(5):
        assert panel.client.get("/metrics", headers=OPERATOR).status_code == 200
    assert len(runs) == 1
    monkeypatch.setattr(health, "METRICS_CACHE_SECONDS", 0.0)
    panel.client.get("/metrics", headers=OPERATOR)
    assert len(runs) == 2
