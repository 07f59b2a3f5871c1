"""The admin panel, the user's web page and the REST API: one Flask app (admin_panel.app).

`create_app` is imported from admin_panel.app only when asked for, so that `python -m
admin_panel` starts gunicorn's master without loading the app: each worker loads it after the
fork, once the master has set up prometheus_client's multiprocess directory
(admin_panel/gunicorn_config.py), which must happen before prometheus_client is imported."""

from __future__ import annotations


def __getattr__(name: str):
    if name == "create_app":
        from admin_panel.app import create_app

        return create_app
    raise AttributeError(f"module 'admin_panel' has no attribute {name!r}")
