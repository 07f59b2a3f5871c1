"""The panel while PostgreSQL is away: every request that needs it answers 503 with Retry-After
within seconds, on the API, the remove.bg endpoint, the web pages (a short page, no stack trace)
and /healthz; /metrics still answers and counts them; a genuine bug is still a 500; and the
same requests answer again once the database is back, without a restart.

The database is the real test PostgreSQL behind a relay the test takes down (tests.support.proxy)."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from io import BytesIO
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core import accounts, tokens
from core.db import connect_database, db
from tests.support.panel import Panel, png
from tests.support.proxy import closed_port
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
METRICS_TOKEN = "metrics-token-for-tests"
PROMPTLY = 5.0  # seconds: "within a few seconds", never a hang


@pytest.fixture
def panel(pg_settings, pg_proxy):
    """The panel on the test PostgreSQL through pg_proxy."""
    settings = replace(pg_settings, database_url=pg_proxy.url, metrics_token=METRICS_TOKEN)
    database = connect_database(settings)
    yield Panel.build(settings)
    pg_proxy.restore()
    database.close_all()


@pytest.fixture
def people(panel):
    """A user and an admin, made while the database is up."""
    return {"user": panel.user(), "admin": panel.admin()}


@pytest.fixture
def auth(panel, people):
    """The user's credentials, issued while the database is up: a Bearer header and an API key header."""
    token = panel.token(people["user"])
    return {"bearer": {"Authorization": f"Bearer {token}"}, "key": {"X-Api-Key": token}}


def upload(name: str) -> dict:
    return {name: (BytesIO(png()), "photo.png")}


# Requests that need the database, as their clients send them.
API_REQUESTS = {
    "me": lambda client, auth: client.get("/api/v1/me", headers=auth["bearer"]),
    "jobs": lambda client, auth: client.get("/api/v1/jobs", headers=auth["bearer"]),
    "transactions": lambda client, auth: client.get("/api/v1/transactions", headers=auth["bearer"]),
    "submit": lambda client, auth: client.post("/api/v1/jobs", headers=auth["bearer"], data=upload("image"),
                                               content_type="multipart/form-data"),
    "sign_in": lambda client, auth: client.post("/api/v1/auth/token",
                                                json={"email": "ann@example.com", "password": "a-long-secret-1"}),
    "removebg_account": lambda client, auth: client.get("/v1.0/account", headers=auth["key"]),
    "removebg": lambda client, auth: client.post("/v1.0/removebg", headers=auth["key"], data=upload("image_file"),
                                                 content_type="multipart/form-data"),
    "healthz": lambda client, auth: client.get("/healthz"),
}
PAGES = {"web_home": ("user", "/"), "admin_dashboard": ("admin", "/admin/"), "admin_users": ("admin", "/admin/users")}


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def assert_retry_later(response, took: float) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)[:500]
    assert took < PROMPTLY
    assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("name", API_REQUESTS)
def test_an_api_request_during_an_outage_is_503_with_retry_after_within_seconds(panel, auth, pg_proxy, name):
    pg_proxy.refuse()
    response, took = timed(lambda: API_REQUESTS[name](panel.client, auth))
    assert_retry_later(response, took)
    body = response.get_json()
    assert body["error"] == "unavailable" and body["message"]
    if name == "removebg":  # remove.bg's clients read its own error shape
        assert body["errors"][0]["code"] == "unavailable"


@pytest.mark.parametrize("name", PAGES)
def test_a_web_page_during_an_outage_is_a_short_503_page_within_seconds(panel, people, pg_proxy, name):
    who, path = PAGES[name]
    panel.sign_in_browser(people[who])
    pg_proxy.refuse()
    response, took = timed(lambda: panel.client.get(path))
    assert_retry_later(response, took)
    page = response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert "briefly unavailable" in page and "Traceback" not in page and "OperationalError" not in page


def test_once_the_database_is_back_the_same_requests_answer_without_a_restart(panel, people, auth, pg_proxy):
    pg_proxy.refuse()
    assert API_REQUESTS["me"](panel.client, auth).status_code == 503
    pg_proxy.restore()
    wait_for(lambda: API_REQUESTS["me"](panel.client, auth).status_code == 200, timeout=10,
             what="GET /api/v1/me to answer again")
    for name in ("jobs", "transactions", "removebg_account", "healthz"):
        assert API_REQUESTS[name](panel.client, auth).status_code == 200, name
    panel.sign_in_browser(people["user"])
    assert panel.client.get("/").status_code == 200


def count_503(panel, route: str) -> float:
    """cutout_http_requests_total for GET `route` answered 503, as /metrics shows it."""
    response = panel.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    wanted = {"route": route, "method": "GET", "status": "503"}
    return sum(sample.value for family in text_string_to_metric_families(response.get_data(as_text=True))
               for sample in family.samples
               if sample.name == "cutout_http_requests_total" and sample.labels == wanted)


def test_metrics_still_answer_during_an_outage_and_count_the_503s(panel, auth, pg_proxy):
    before = count_503(panel, "/api/v1/me")
    pg_proxy.refuse()
    for _ in range(3):
        assert API_REQUESTS["me"](panel.client, auth).status_code == 503
    assert count_503(panel, "/api/v1/me") == before + 3


def test_a_genuine_bug_is_still_a_500(panel, auth, monkeypatch):
    monkeypatch.setattr("admin_panel.api.user_json", lambda user: {"ratio": 1 / 0})
    response = API_REQUESTS["me"](panel.client, auth)
    assert (response.status_code, response.get_json()["error"]) == (500, "internal_error")
    monkeypatch.setattr("admin_panel.api.user_json", lambda user: db.execute_sql("SELECT no_such_column"))
    response = API_REQUESTS["me"](panel.client, auth)
    assert (response.status_code, response.get_json()["error"]) == (500, "internal_error")


def test_nothing_listening_on_the_database_port_is_503_too(pg_settings):
    settings = replace(pg_settings, database_url=re.sub(r"@[^/]+/", f"@127.0.0.1:{closed_port()}/",
                                                        pg_settings.database_url))
    database = connect_database(settings)
    try:
        response, took = timed(lambda: API_REQUESTS["sign_in"](Panel.build(settings).client, {}))
    finally:
        database.close_all()
    assert_retry_later(response, took)
    assert response.get_json()["error"] == "unavailable"


# --- the real server: gunicorn, as deployed ---


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, str, float]:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode(), time.monotonic() - started
    finally:
        connection.close()


@pytest.mark.slow
def test_gunicorn_answers_503_during_an_outage_logs_it_once_and_recovers(pg_settings, pg_proxy, tmp_path):
    port, secret = closed_port(), "test-secret-" + "s" * 40
    user, _ = accounts.register_telegram_user(6060, signup_bonus=3)
    token = tokens.issue_access_token(user, replace(pg_settings, jwt_secret=secret))
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "APP_ENV": "test", "JWT_SECRET": secret,
           "DATABASE_URL": pg_proxy.url, "STORAGE_DIR": str(tmp_path / "storage"), "PANEL_HOST": "127.0.0.1",
           "PANEL_PORT": str(port), "PANEL_WORKERS": "1", "LOG_LEVEL": "INFO"}
    log = tmp_path / "panel.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-m", "admin_panel"], cwd=tmp_path, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    me = {"Authorization": f"Bearer {token}"}
    try:
        wait_for(lambda: _answers(port), timeout=30, what="the panel to listen", logs=log.read_text)
        assert get(port, "/api/v1/me", me)[0] == 200
        pg_proxy.refuse()
        for path, headers in (("/api/v1/me", me), ("/healthz", {}), ("/", {"Cookie": f"cutout_token={token}"})):
            status, answer_headers, body, took = get(port, path, headers)
            assert (status, took < PROMPTLY) == (503, True), (path, status, took, body[:300])
            assert int(answer_headers["Retry-After"]) >= 1
        assert json.loads(get(port, "/api/v1/me", me)[2])["error"] == "unavailable"
        pg_proxy.restore()
        wait_for(lambda: get(port, "/api/v1/me", me)[0] == 200, timeout=15, what="the API to answer again",
                 logs=log.read_text)
    finally:
        server.terminate()
        server.wait(30)
    output = log.read_text()
    assert output.count("unreachable (") == 1, output
    assert len(re.findall(r"reachable again after \d+\.\d s", output)) == 1, output
    assert "Traceback" not in output


def _answers(port: int) -> bool:
    try:
        return get(port, "/healthz")[0] == 200
    except OSError:
        return False
