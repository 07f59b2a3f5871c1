"""`python -m bot`: polling by default, a webhook when TELEGRAM_WEBHOOK_URL is set."""

from __future__ import annotations

import logging
import sys

from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.webhook import run_webhook, webhook_problem
from core.bootstrap import load_or_exit, start
from core.metrics import serve as serve_metrics
from core.settings import Settings

logger = logging.getLogger(__name__)


def main() -> int:
    """Run the bot until SIGINT/SIGTERM; exit 2 with one clear line when it cannot start."""
    settings = load_or_exit()
    if problem := settings_problem(settings):
        print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    start(settings)  # exits with one line while migrations are pending
    serve_metrics(settings)  # METRICS_PORT; off (0) by default
    serve(build_application(settings), settings)
    return 0


def settings_problem(settings: Settings) -> str | None:
    """Why the bot cannot start with these settings (no token, a webhook without its secret), or None."""
    if not settings.telegram_bot_token:
        return "TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)"
    if settings.app_env != "development" and not settings.jwt_secret:
        return "JWT_SECRET is not set: the bot signs the API keys of /apikey and the sign-in links of /web with it"
    if settings.telegram_webhook_url:
        return webhook_problem(settings)
    return None


def serve(application: Application, settings: Settings) -> None:
    """Run the bot until SIGINT/SIGTERM: a webhook when TELEGRAM_WEBHOOK_URL is set, else polling
    (`python -m bot` and `make run` alike)."""
    if settings.telegram_webhook_url:
        logger.info("starting the bot with a webhook")
        run_webhook(application, settings)
    else:
        logger.info("starting the bot, polling")
        application.run_polling(allowed_updates=Update.ALL_TYPES)
    logger.info("the bot stopped")
