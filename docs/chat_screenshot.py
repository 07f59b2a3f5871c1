"""Renders the bot's real replies, recorded from a local fake Bot API, as docs/screenshots/chat.png.

Telegram cannot be reached from the build machine, so the real bot (bot.app.build_application)
talks to the fake Bot API of the tests: a user "Anna" sends /start and a photo, the job goes
through the in-process queue to a worker thread (the real ISNet model from `make model` when it is
there, else the tiny test model), and the result listener delivers it. Every Bot API call is
recorded and drawn as a chat in a small HTML page, which headless Chromium screenshots.

Run: .venv/bin/python docs/chat_screenshot.py [output.png]
"""

from __future__ import annotations

import io
import logging
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a file from anywhere: the project's packages live in ROOT

import skimage.data  # noqa: E402
from PIL import Image  # noqa: E402

from core import accounts, jobs, migrations  # noqa: E402
from core.db import connect_database  # noqa: E402
from core.settings import Settings, load_settings  # noqa: E402
from docs.chat_page import SCALE, chat_html  # noqa: E402
from tests.support.bot_harness import BotHarness, wait_until  # noqa: E402
from tests.support.bot_updates import Person  # noqa: E402
from tests.support.fake_bot_api import TOKEN, FakeBotApi  # noqa: E402
from tests.support.tiny_model import build_tiny_model  # noqa: E402
from worker.engine import load_engine  # noqa: E402
from worker.model_fetch import usable_model  # noqa: E402
from worker.service import start_workers  # noqa: E402

logger = logging.getLogger(__name__)

OUTPUT = ROOT / "docs" / "screenshots" / "chat.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT_WIDTH = 480
PHOTO_SIDE = 800
DELIVERY_TIMEOUT = 300.0  # the real model on two slow cores, plus its loading


# --- recording the bot's calls ---

@dataclass
class Entry:
    """One thing that happened in the chat: a user's update, or a Bot API call and its answer."""

    who: str  # "user" or "bot"
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    result: Any = None
    at: float = field(default_factory=time.time)


class RecordingBotApi(FakeBotApi):
    """The tests' fake Bot API, also keeping each call's answer and time, with the user's messages in between."""

    def __init__(self, token: str = TOKEN):
        super().__init__(token)
        self.log: list[Entry] = []
        self.uploads: dict[str, bytes] = {}  # file_id -> bytes the user sent

    def handle(self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> tuple[int, dict]:
        status, body = super().handle(method, params, files)
        with self._changed:
            self.log.append(Entry("bot", method, dict(params), dict(files), body.get("result")))
        return status, body

    def user_sends(self, update: dict) -> dict:
        """Note an update of the user's as a chat message; returns it unchanged."""
        with self._changed:
            self.log.append(Entry("user", "message", update["message"]))
        return update


# --- running the real bot ---

def make_settings(workdir: Path, **overrides: Any) -> Settings:
    """Settings for a throw-away run: a fresh SQLite file and storage in `workdir`, no .env read."""
    environ = {
        "APP_ENV": "development",
        "DATABASE_URL": f"sqlite:///{workdir}/chat.db",
        "STORAGE_DIR": str(workdir / "storage"),
        "MODEL_DIR": str(ROOT / "var" / "models"),
        "JWT_SECRET": "screenshot-" + "x" * 40,
        "WORKER_THREADS": "1",
        "TELEGRAM_BOT_TOKEN": TOKEN,
    }
    environ.update({key.upper(): str(value) for key, value in overrides.items()})
    return load_settings(environ, env_file=None)


def model_settings(settings: Settings, workdir: Path) -> tuple[Settings, str]:
    """Settings that load the real ISNet model if it is there, else the tiny test model; and its name."""
    real = usable_model(settings)
    if real is not None:
        return real, f"the {Path(real.rembg_model_path).name if real.rembg_model_path else real.rembg_model} model"
    logger.warning("no real model in %s (run `make model`); using the tiny test model", settings.model_dir)
    tiny = build_tiny_model(workdir / "models" / "tiny.onnx")
    return make_settings(workdir, rembg_model_path=tiny), "the tiny test model (run `make model` for the real one)"


def sample_photo() -> bytes:
    """scikit-image's astronaut, scaled to PHOTO_SIDE px, as the JPEG a Telegram photo is."""
    image = Image.fromarray(skimage.data.astronaut()).resize((PHOTO_SIDE, PHOTO_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def photo_update(person: Person, api: RecordingBotApi, data: bytes) -> dict:
    """The person's photo message, with the real size of the one photo size it carries."""
    file_id = api.add_file(data, name="photo.jpg")
    api.uploads[file_id] = data
    update = person.photo(file_id, file_size=len(data))
    width, height = Image.open(io.BytesIO(data)).size
    update["message"]["photo"][-1].update(width=width, height=height)
    return update


def status_is_final(api: RecordingBotApi) -> bool:
    """True once the result was sent and the status message edited after it (the listener's last step)."""
    with api._changed:
        methods = [entry.method for entry in api.log if entry.who == "bot"]
    if "sendDocument" not in methods and "sendSticker" not in methods:
        return False
    sent = max(i for i, m in enumerate(methods) if m in ("sendDocument", "sendSticker"))
    return "editMessageText" in methods[sent + 1:]


def record_chat(workdir: Path) -> tuple[RecordingBotApi, str]:
    """Run the bot, a worker thread and Anna's /start and photo; the recorded API and the model's name."""
    settings = make_settings(workdir)
    database = connect_database(settings)
    migrations.migrate()
    settings, model_name = model_settings(settings, workdir)
    engine = load_engine(settings)
    api = RecordingBotApi(settings.telegram_bot_token)
    anna = Person(5001, first_name="Anna", username="anna")
    stop = threading.Event()
    try:
        with BotHarness(settings, api=api) as bot:
            workers = start_workers(settings, bot.queue, engine, stop, storage=bot.storage, sweep=False)
            bot.send(api.user_sends(anna.text("/start")))
            bot.send(api.user_sends(photo_update(anna, api, sample_photo())))
            wait_until(lambda: status_is_final(api), timeout=DELIVERY_TIMEOUT, interval=0.1)
            [job] = jobs.list_jobs(accounts.get_user_by_telegram_id(anna.id).id).items
            if job.status != "done" or job.delivery_error:
                raise SystemExit(f"the job did not go through: {job.status} {job.error or job.delivery_error}")
            stop.set()
            for worker in workers:
                worker.join(10)
            bot.assert_no_errors()
    finally:
        stop.set()
        database.close()
    return api, model_name


# --- the screenshot ---

def screenshot(page_html: str, output: Path, workdir: Path) -> None:
    """Render the page in headless Chromium and save a full-page PNG."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    page_file = workdir / "chat.html"
    page_file.write_text(page_html, encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": VIEWPORT_WIDTH, "height": 600}, device_scale_factor=SCALE)
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")
            shot = page.screenshot(full_page=True)
        finally:
            browser.close()
    output.parent.mkdir(parents=True, exist_ok=True)
    # 256 dithered colours: the photos would otherwise make the PNG three times as large.
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
        output, "PNG", optimize=True)


def main() -> int:
    """Record the chat, draw it, screenshot it."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    with tempfile.TemporaryDirectory(prefix="cutout-chat-") as tmp:
        workdir = Path(tmp)
        api, model_name = record_chat(workdir)
        screenshot(chat_html(api, "Anna", model_name), output, workdir)
    print(f"{output}: {output.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
