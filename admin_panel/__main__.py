"""`python -m admin_panel`: serve the panel and the API with gunicorn on PANEL_HOST:PANEL_PORT."""

from __future__ import annotations

import logging
from dataclasses import replace

from gunicorn.app.base import BaseApplication

from admin_panel import gunicorn_config
from core import tokens
from core.bootstrap import start
from core.settings import Settings

logger = logging.getLogger("admin_panel")



class PanelServer(BaseApplication):
    """gunicorn with options from Settings; each worker process builds its own app after the fork."""

    def __init__(self, settings: Settings, options: dict):
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from admin_panel import create_app

        # More threads than the database pool: each gives its connection back after a request.
        return create_app(self.settings)


def server_options(settings: Settings) -> dict:
    """gunicorn settings: threaded workers, so a slow upload does not hold a whole process."""
    return {
        "bind": f"{settings.panel_host}:{settings.panel_port}",
        "workers": settings.panel_workers,
        "worker_class": "gthread",
        "threads": gunicorn_config.THREADS,
        "timeout": 60,
        "graceful_timeout": 20,
        "accesslog": "-",
        "loglevel": settings.log_level.lower(),
        # gunicorn 27's control socket has one fixed path per user: two servers on a host would clash.
        "control_socket_disable": True,
        # Metrics summed over the workers (prometheus_client's multiprocess mode).
        "on_starting": gunicorn_config.on_starting,
        "child_exit": gunicorn_config.child_exit,
        "on_exit": gunicorn_config.on_exit,
    }


def main() -> None:
    """Start the server (blocks until stopped)."""
    settings = start()
    if not settings.jwt_secret:
        # Development only (signing_secret refuses elsewhere): one random secret for every worker.
        settings = replace(settings, jwt_secret=tokens.signing_secret(settings))
    logger.info("serving on http://%s:%s with %s worker(s)", settings.panel_host, settings.panel_port,
                settings.panel_workers)
    PanelServer(settings, server_options(settings)).run()


if __name__ == "__main__":
    main()
