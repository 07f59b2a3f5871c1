"""`python -m bot`: polling by default, a webhook when TELEGRAM_WEBHOOK_URL is set."""

from __future__ import annotations

import logging
import sys

from telegram import Update

from bot.app import build_application
from bot.webhook import run_webhook, webhook_problem
from core.bootstrap import load_or_exit, start

logger = logging.getLogger(__name__)


def main() -> int:
    """Run the bot until SIGINT/SIGTERM; exit 2 with one clear line when it cannot start."""
    settings = load_or_exit()
    if not settings.telegram_bot_token:
        print("configuration error: TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)", file=sys.stderr)
        return 2
    if settings.telegram_webhook_url and (problem := webhook_problem(settings)):
        print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    start(settings)  # exits with one line while migrations are pending
    application = build_application(settings)
    if settings.telegram_webhook_url:
        logger.info("starting the bot with a webhook")
        run_webhook(application, settings)
    else:
        logger.info("starting the bot, polling")
        application.run_polling(allowed_updates=Update.ALL_TYPES)
    logger.info("the bot stopped")
    return 0
