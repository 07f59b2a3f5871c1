"""Renders the bot's real replies, recorded from a local fake Bot API, as docs/screenshots/chat.png.

Telegram cannot be reached from the build machine, so the real bot (bot.app.build_application)
talks to the fake Bot API of the tests: a user "Anna" sends /start and a photo, the job goes
through the in-process queue to a worker thread (the real ISNet model from `make model` when it is
there, else the tiny test model), and the result listener delivers it. Every Bot API call is
recorded and drawn as a chat in a small HTML page, which headless Chromium screenshots.

Run: .venv/bin/python docs/chat_screenshot.py [output.png]
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a file from anywhere: the project's packages live in ROOT

import skimage.data  # noqa: E402
from PIL import Image  # noqa: E402

from core import accounts, jobs, migrations  # noqa: E402
from core.db import connect_database  # noqa: E402
from core.settings import Settings, load_settings  # noqa: E402
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
SCALE = 1.5  # device pixels per CSS pixel: sharp text, while the photos keep the PNG small
PHOTO_SIDE = 800
BUBBLE_IMAGE_WIDTH = 290  # CSS px of the photo and the cut-out in their bubbles
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


# --- the bot's texts as Telegram shows them ---

AUTO_LINK = re.compile(r"(https?://[^\s<]+)|((?<![\w/])/[A-Za-z0-9_]{1,32}(?:@\w+)?)")


def linkify(escaped: str) -> str:
    """Links and /commands in already escaped text coloured as Telegram's clients show them."""
    return AUTO_LINK.sub(lambda m: f'<span class="link">{m.group(0)}</span>', escaped)


class TelegramHtml:
    """The Bot API's HTML parse mode: its few tags kept, everything else shown as text."""

    TAGS = {"b": "b", "strong": "b", "i": "i", "em": "i", "u": "u", "ins": "u", "s": "s", "strike": "s",
            "del": "s", "code": "code", "pre": "pre", "blockquote": "blockquote", "tg-spoiler": "span",
            "span": "span", "a": "a", "tg-emoji": "span"}

    @classmethod
    def render(cls, source: str) -> str:
        out: list[str] = []
        plain = [0]  # depth inside <a>/<code>/<pre>, where Telegram detects no links

        class Parser(HTMLParser):
            def handle_starttag(self, tag: str, attrs: list) -> None:
                if tag not in cls.TAGS:
                    return
                attributes = dict(attrs)
                if tag == "a":
                    out.append(f'<a class="link" href="{html.escape(attributes.get("href") or "")}">')
                elif tag == "tg-spoiler" or attributes.get("class") == "tg-spoiler":
                    out.append('<span class="spoiler">')
                else:
                    out.append(f"<{cls.TAGS[tag]}>")
                plain[0] += tag in ("a", "code", "pre")

            def handle_endtag(self, tag: str) -> None:
                if tag in cls.TAGS:
                    out.append(f"</{cls.TAGS[tag]}>")
                    plain[0] -= tag in ("a", "code", "pre")

            def handle_data(self, data: str) -> None:
                escaped = html.escape(data)
                out.append(escaped if plain[0] else linkify(escaped))

        parser = Parser(convert_charrefs=True)
        parser.feed(source)
        parser.close()
        return "".join(out)


MARKDOWN = re.compile(
    r"```(?:[\w+-]*\n)?(?P<pre>.*?)```|`(?P<code>[^`]+)`|\[(?P<label>[^\]]+)\]\((?P<href>[^)]+)\)"
    r"|\*(?P<b>[^*]+)\*|__(?P<u>[^_]+)__|_(?P<i>[^_]+)_|~(?P<s>[^~]+)~|\|\|(?P<spoiler>.+?)\|\|",
    re.DOTALL)


def render_markdown(source: str, v2: bool) -> str:
    """The Bot API's Markdown and MarkdownV2 parse modes, one level deep (all the bot would need)."""
    def plain(text: str) -> str:
        return linkify(html.escape(re.sub(r"\\(.)", r"\1", text) if v2 else text))

    out, last = [], 0
    for match in MARKDOWN.finditer(source):
        kind = match.lastgroup
        if not v2 and kind in ("u", "s", "spoiler"):  # MarkdownV2 only
            continue
        out.append(plain(source[last:match.start()]))
        last = match.end()
        if kind == "pre":
            out.append(f"<pre>{html.escape(match['pre'])}</pre>")
        elif kind == "code":
            out.append(f"<code>{html.escape(match['code'])}</code>")
        elif kind in ("label", "href"):
            out.append(f'<a class="link" href="{html.escape(match["href"])}">{plain(match["label"])}</a>')
        else:
            tag = {"spoiler": 'span class="spoiler"'}.get(kind, kind)
            out.append(f"<{tag}>{plain(match[kind])}</{tag.split()[0]}>")
    out.append(plain(source[last:]))
    return "".join(out)


def render_text(source: str | None, parse_mode: str | None) -> str:
    """A text or caption as the bot asked Telegram to show it."""
    if not source:
        return ""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return TelegramHtml.render(source)
    if mode in ("markdown", "markdownv2"):
        return render_markdown(source, v2=mode == "markdownv2")
    return linkify(html.escape(source))


# --- the chat as HTML ---

@dataclass
class Bubble:
    """One message as the chat shows it at the end."""

    side: str  # "in" (the bot) or "out" (Anna)
    message_id: int
    at: float
    body: str = ""  # rendered text or caption
    photo: bytes | None = None
    document: tuple[str, bytes] | None = None
    reply_to: int | None = None
    edited: bool = False
    buttons: list[list[dict]] = field(default_factory=list)


def json_param(value: Any) -> Any:
    """A parameter PTB may have sent JSON-encoded."""
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def bubbles_from(api: RecordingBotApi) -> tuple[list[Bubble], list[str]]:
    """The final chat from the recorded calls, and every text the status message showed in turn."""
    bubbles: dict[int, Bubble] = {}
    status_texts: dict[int, list[str]] = {}
    for entry in api.log:
        params = entry.params
        if entry.who == "user":
            photo = api.uploads.get(params["photo"][-1]["file_id"]) if "photo" in params else None
            bubbles[params["message_id"]] = Bubble("out", params["message_id"], entry.at,
                                                   body=linkify(html.escape(params.get("text", ""))), photo=photo)
            continue
        if not isinstance(entry.result, dict) or "message_id" not in entry.result:
            continue  # getMe, getFile, setMyCommands...: nothing shows in the chat
        message_id = entry.result["message_id"]
        reply = json_param(params.get("reply_parameters")) or {}
        markup = json_param(params.get("reply_markup")) or {}
        if entry.method == "sendMessage":
            body = render_text(params["text"], params.get("parse_mode"))
            bubbles[message_id] = Bubble("in", message_id, entry.at, body,
                                         reply_to=reply.get("message_id"), buttons=markup.get("inline_keyboard", []))
            status_texts[message_id] = [params["text"]]
        elif entry.method == "editMessageText" and message_id in bubbles:
            bubble = bubbles[message_id]
            bubble.body = render_text(params["text"], params.get("parse_mode"))
            bubble.buttons, bubble.edited = markup.get("inline_keyboard", []), True
            if status_texts[message_id][-1] != params["text"]:
                status_texts[message_id].append(params["text"])
        elif entry.method in ("sendDocument", "sendSticker", "sendPhoto"):
            name = {"sendDocument": "document", "sendSticker": "sticker", "sendPhoto": "photo"}[entry.method]
            bubbles[message_id] = Bubble("in", message_id, entry.at,
                                         render_text(params.get("caption"), params.get("parse_mode")),
                                         document=entry.files.get(name), reply_to=reply.get("message_id"))
    edited = [texts for texts in status_texts.values() if len(texts) > 1]
    return list(bubbles.values()), edited[0] if edited else []


def data_uri(image: Image.Image, width: int, fmt: str) -> str:
    """The image scaled to `width` CSS px at SCALE, inlined."""
    pixels = round(width * SCALE)
    if image.width > pixels:
        image = image.resize((pixels, round(image.height * pixels / image.width)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.convert("RGB").save(buffer, "JPEG", quality=82)
    else:
        image.save(buffer, "PNG", optimize=True)
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(buffer.getvalue()).decode()}"


def clock(at: float) -> str:
    return datetime.fromtimestamp(at).strftime("%H:%M")


def file_size(size: int) -> str:
    """A size the way Telegram writes it under a document."""
    return f"{size / 1024:.1f} KB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MB"


CHECKS = ('<svg class="checks" viewBox="0 0 18 10"><path d="M1 5.2l3 3L10.5 1.5M7.5 8.2L14.5 1.5" '
          'fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round"/></svg>')
FILE_ICON = ('<svg viewBox="0 0 24 24" width="24" height="24"><path fill="#fff" d="M12 4v10.2l3.6-3.6 1.4 1.4-6 '
             '6-6-6 1.4-1.4 3.6 3.6V4zM5 19h14v2H5z"/></svg>')


def meta(bubble: Bubble, overlay: bool = False) -> str:
    """The time (with "edited", and read ticks on Anna's side) in a bubble's corner."""
    parts = ("edited " if bubble.edited else "") + clock(bubble.at) + (CHECKS if bubble.side == "out" else "")
    return f'<span class="meta{" overlay" if overlay else ""}">{parts}</span>'


def quote(bubble: Bubble, by_id: dict[int, Bubble], user_name: str) -> str:
    """The reply header: whose message and a thumbnail of its photo."""
    original = by_id.get(bubble.reply_to or -1)
    if original is None:
        return ""
    if original.photo:
        thumb = f'<img src="{data_uri(Image.open(io.BytesIO(original.photo)), 36, "JPEG")}">'
        what = "Photo"
    else:
        thumb, what = "", re.sub(r"<[^>]+>", "", original.body)[:40]
    name = user_name if original.side == "out" else "Cutout"
    return f'<div class="quote">{thumb}<div><b>{html.escape(name)}</b><br>{html.escape(what)}</div></div>'


def bubble_html(bubble: Bubble, by_id: dict[int, Bubble], user_name: str) -> str:
    """One message."""
    if bubble.photo and not bubble.body:
        image = data_uri(Image.open(io.BytesIO(bubble.photo)), BUBBLE_IMAGE_WIDTH, "JPEG")
        return (f'<div class="row {bubble.side}"><div class="bubble media"><img class="photo" src="{image}">'
                f"{meta(bubble, overlay=True)}</div></div>")
    parts = [quote(bubble, by_id, user_name)]
    if bubble.document:
        name, data = bubble.document
        preview = Image.open(io.BytesIO(data))
        preview.load()
        fmt = "PNG" if preview.mode in ("RGBA", "LA", "P") else "JPEG"
        parts.append(f'<div class="checker"><img src="{data_uri(preview, BUBBLE_IMAGE_WIDTH, fmt)}"></div>'
                     f'<div class="doc"><div class="icon">{FILE_ICON}</div><div><div class="name">'
                     f'{html.escape(name)}</div><div class="size">{file_size(len(data))}</div></div></div>')
    parts.append(f'<div class="text">{bubble.body}{meta(bubble)}</div>')
    keyboard = "".join('<div class="keys">' + "".join(f'<span>{html.escape(b.get("text", ""))}</span>'
                                                      for b in row) + "</div>" for row in bubble.buttons)
    return f'<div class="row {bubble.side}"><div class="bubble">{"".join(parts)}</div></div>{keyboard}'


STYLE = """
* { box-sizing: border-box; }
body { margin: 0; width: 480px; font: 15px/1.35 "Liberation Sans", "DejaVu Sans", "Noto Color Emoji", sans-serif;
  color: #000; background: linear-gradient(160deg, #dfe6c4 0%, #b7d3a4 45%, #cfdcae 100%); }
header { display: flex; align-items: center; gap: 12px; padding: 9px 14px; background: #fff;
  border-bottom: 1px solid #dfe1e5; }
.avatar { width: 42px; height: 42px; border-radius: 50%; color: #fff; font-weight: bold; font-size: 18px;
  display: flex; align-items: center; justify-content: center; background: #4fa6ef; }
.title { font-weight: bold; font-size: 16px; } .subtitle { color: #707579; font-size: 14px; }
main { padding: 10px 10px 14px; display: flex; flex-direction: column; gap: 6px; }
.pill { align-self: center; padding: 3px 10px; border-radius: 12px; color: #fff; font-size: 13px;
  background: rgba(74, 110, 64, .45); margin: 4px 0; text-align: center; max-width: 90%; }
.row { display: flex; } .row.out { justify-content: flex-end; }
.bubble { max-width: 82%; padding: 6px 9px 6px 10px; border-radius: 15px; background: #fff;
  box-shadow: 0 1px 2px rgba(16, 35, 47, .15); overflow: hidden; }
.out .bubble { background: #eeffde; border-bottom-right-radius: 5px; }
.in .bubble { border-bottom-left-radius: 5px; }
.bubble.media { padding: 0; position: relative; line-height: 0; }
.photo { width: 290px; display: block; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
.meta { float: right; margin: 7px 0 -5px 10px; font-size: 12px; color: #a0acb6; line-height: 1.2;
  display: inline-flex; align-items: center; gap: 3px; }
.out .meta { color: #4fae4e; }
.meta.overlay { position: absolute; right: 6px; bottom: 6px; margin: 0; padding: 2px 6px; border-radius: 10px;
  color: #fff; background: rgba(0, 0, 0, .35); }
.checks { width: 17px; height: 10px; }
.link { color: #3390ec; } b { font-weight: bold; }
code, pre { font-family: "DejaVu Sans Mono", monospace; font-size: 13.5px; color: #c7254e; }
.spoiler { background: #c4c9cc; color: transparent; border-radius: 3px; }
.quote { display: flex; gap: 8px; align-items: center; margin: 1px 0 5px; padding: 4px 8px 4px 6px;
  border-left: 3px solid #3390ec; border-radius: 4px; background: rgba(51, 144, 236, .08); font-size: 14px;
  line-height: 1.25; }
.quote b { color: #3390ec; } .quote img { width: 36px; height: 36px; object-fit: cover; border-radius: 3px; }
.checker { margin: 0 -9px 8px -10px; line-height: 0;
  background: repeating-conic-gradient(#e2e5e8 0% 25%, #fff 0% 50%) 0 0 / 16px 16px; }
.checker img { width: 290px; display: block; }
.doc { display: flex; gap: 11px; align-items: center; margin-bottom: 2px; }
.icon { width: 46px; height: 46px; border-radius: 50%; background: #3390ec; display: flex;
  align-items: center; justify-content: center; flex: none; }
.name { font-weight: bold; } .size { color: #707579; font-size: 13px; }
.keys { display: flex; gap: 4px; max-width: 82%; }
.keys span { flex: 1; text-align: center; padding: 8px; border-radius: 10px; color: #fff; font-weight: bold;
  background: rgba(74, 110, 64, .45); }
.step { white-space: nowrap; }
footer { padding: 0 16px 14px; color: #3d5336; font-size: 12px; text-align: center; }
"""


def chat_html(api: RecordingBotApi, user_name: str, model_name: str) -> str:
    """The whole page: header, the day, the messages, and where they came from."""
    bubbles, status_texts = bubbles_from(api)
    by_id = {bubble.message_id: bubble for bubble in bubbles}
    day = datetime.fromtimestamp(bubbles[0].at).strftime("%B %-d")
    history = ""
    if status_texts:
        history = ('<div class="pill">The status message read, in turn:<br>'
                   + " → ".join(f'<span class="step">{html.escape(text)}</span>' for text in status_texts)
                   + "</div>")
    messages = "".join(bubble_html(bubble, by_id, user_name) for bubble in bubbles)
    return (f'<!doctype html><html><head><meta charset="utf-8"><style>{STYLE}</style></head><body>'
            '<header><div class="avatar">C</div><div><div class="title">Cutout</div>'
            '<div class="subtitle">bot</div></div></header>'
            f'<main><div class="pill">{day}</div>{messages}{history}</main>'
            "<footer>The bot's real replies, recorded from a local fake Bot API.<br>"
            f'Cut out by <span class="step">{html.escape(model_name)}</span>.</footer></body></html>')


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
