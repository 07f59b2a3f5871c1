"""Behind nginx (PANEL_PROXIES=1) the client's address comes from X-Forwarded-For; without a
proxy configured the header is ignored, so nobody can pick the address the limiter sees."""

from dataclasses import replace

from flask import request

from admin_panel import create_app


def address_seen(settings, **headers) -> str:
    app = create_app(settings)
    app.add_url_rule("/_address", "address", lambda: request.remote_addr or "")
    response = app.test_client().get("/_address", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    return response.get_data(as_text=True)


def test_the_forwarded_address_counts_behind_one_proxy(sqlite_settings):
    behind = replace(sqlite_settings, panel_proxies=1)
    assert address_seen(behind, **{"X-Forwarded-For": "203.0.113.7"}) == "203.0.113.7"


def test_the_forwarded_header_is_ignored_without_a_proxy(sqlite_settings):
    assert address_seen(sqlite_settings, **{"X-Forwarded-For": "203.0.113.7"}) == "10.0.0.2"
