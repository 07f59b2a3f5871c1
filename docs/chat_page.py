"""The recorded chat drawn as an HTML page that looks like Telegram's: bubbles, photos, documents, buttons."""

from __future__ import annotations

import base64
import html
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PIL import Image

from docs.chat_text import linkify, render_text

if TYPE_CHECKING:
    from docs.chat_screenshot import RecordingBotApi

SCALE = 1.5  # device pixels per CSS pixel: sharp text, while the photos keep the PNG small
BUBBLE_IMAGE_WIDTH = 290  # CSS px of the photo and the cut-out in their bubbles


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
