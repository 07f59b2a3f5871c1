"""Start-up shared by every process: settings, logging, database."""

from __future__ import annotations

import sys

from core.db import connect_database
from core.errors import SettingsError
from core.logs import configure_logging
from core.settings import Settings, load_settings


def load_or_exit() -> Settings:
    """Settings, or one clear line on stderr and exit status 2."""
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def start(settings: Settings | None = None) -> Settings:
    """Load settings (unless given), configure logging and bind the database."""
    settings = settings or load_or_exit()
    configure_logging(settings)
    connect_database(settings)
    return settings
