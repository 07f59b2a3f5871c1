"""The few Bot API calls made outside the bot process (the panel refunds payments): plain HTTPS."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

from core.errors import TelegramUnavailable
from core.settings import Settings

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0


class TelegramRefused(TelegramUnavailable):
    """Telegram answered the request with an error."""

    def __init__(self, method: str, description: str):
        super().__init__(f"Telegram refused {method}: {description}")
        self.description = description


def call(settings: Settings, method: str, **params) -> object:
    """Call a Bot API method with the bot's token; its result, or TelegramRefused (Telegram said
    no) or TelegramUnavailable (no answer)."""
    if not settings.telegram_bot_token:
        raise TelegramUnavailable("TELEGRAM_BOT_TOKEN is not set here, so Telegram cannot be asked.")
    request = urllib.request.Request(
        f"{settings.telegram_api_base_url}{settings.telegram_bot_token}/{method}",
        data=json.dumps(params).encode(), headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            body = json.load(exc)
        except ValueError:
            raise TelegramUnavailable(f"Telegram answered {method} with HTTP {exc.code}.") from exc
    except (OSError, ValueError) as exc:
        logger.warning("Bot API %s failed: %s", method, exc)
        raise TelegramUnavailable(f"Telegram could not be reached ({exc}).") from exc
    if not isinstance(body, dict) or not body.get("ok"):
        description = body.get("description", "no reason given") if isinstance(body, dict) else "not JSON"
        raise TelegramRefused(method, description)
    return body.get("result")
