"""A fake Telegram Bot API that records every call.

`FakeBotApi` answers the methods the bot uses with real-shaped JSON. Put it under
python-telegram-bot in-process with `api.request()` (a `telegram.request.BaseRequest`), or serve
it over HTTP with `tests.support.fake_bot_api_server.FakeBotApiServer` for a bot running as a
separate process (getUpdates included).
"""

from __future__ import annotations

import io
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from PIL import Image
from telegram.request import BaseRequest, RequestData

TOKEN = "123456:TEST-token"
BOT_ID = 123456
BOT_USERNAME = "cutout_test_bot"
STICKER_SET_LIMIT = 120  # Telegram's most static stickers in a set
STICKER_SIDE, STICKER_BYTES = 512, 512 * 1024
SET_NAME = re.compile(r"[A-Za-z](?:_?[A-Za-z0-9])*")  # a letter first; letters, digits, single underscores


@dataclass
class Call:
    """One request the bot made: method name, parameters, uploaded files (field -> (file name, bytes))."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    @property
    def text(self) -> str | None:
        return self.params.get("text")

    @property
    def buttons(self) -> list[dict]:
        """Every inline button of the call's reply_markup, row by row."""
        markup = self.params.get("reply_markup") or {}
        if isinstance(markup, str):
            markup = json.loads(markup)
        return [button for row in markup.get("inline_keyboard", []) for button in row]


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None


class FakeBotApi:
    """Answers Bot API methods, serves registered files, records calls; thread-safe."""

    def __init__(self, token: str = TOKEN):
        self.token = token
        self.calls: list[Call] = []
        self.files: dict[str, tuple[str, bytes, int]] = {}  # file_id -> (file_path, content, reported size)
        self.updates: list[dict] = []
        self.star_transactions: list[dict] = []  # oldest first, as getStarTransactions lists them
        self._failures: dict[str, list[Failure]] = {}
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._changed = threading.Condition()
        self.sticker_sets: dict[str, dict] = {}  # lower-cased name -> {name, title, owner, stickers}
        self.sticker_set_limit = STICKER_SET_LIMIT

    # --- set-up ---

    def add_file(self, content: bytes, *, size: int | None = None, name: str = "photo.jpg") -> str:
        """Register a downloadable file; `size` is what getFile reports (default: the real size)."""
        number = next(self._ids)
        file_id = f"file-{number}"
        self.files[file_id] = (f"files/{number}-{name}", content, len(content) if size is None else size)
        return file_id

    def fail_next(self, method: str, status: int, description: str = "", *, retry_after: int | None = None,
                  times: int = 1) -> None:
        """Make the next `times` calls of `method` fail with this HTTP status."""
        with self._changed:
            self._failures.setdefault(method, []).extend([Failure(status, description, retry_after)] * times)

    def add_star_payment(self, user: dict, payload: str, amount: int, charge_id: str) -> dict:
        """Telegram's record of a Stars payment (what getStarTransactions lists), with or without
        the successful_payment update the bot may or may not have seen."""
        transaction = {"id": charge_id, "amount": amount, "date": int(time.time()),
                       "source": {"type": "user", "transaction_type": "invoice_payment", "user": user,
                                  "invoice_payload": payload}}
        with self._changed:
            self.star_transactions.append(transaction)
        return transaction

    def push_update(self, update: dict) -> int:
        """Queue an update for getUpdates (the HTTP server); returns its update_id."""
        with self._changed:
            update = dict(update, update_id=len(self.updates) + 1)
            self.updates.append(update)
            self._changed.notify_all()
            return update["update_id"]

    # --- inspection ---

    def calls_to(self, method: str) -> list[Call]:
        with self._changed:
            return [call for call in self.calls if call.method == method]

    def sent_texts(self) -> list[str]:
        """Texts of every sendMessage and editMessageText, in order."""
        with self._changed:
            return [call.text for call in self.calls if call.method in ("sendMessage", "editMessageText")]

    def wait_for(self, method: str, count: int = 1, timeout: float = 15.0) -> list[Call]:
        """Block until `method` was called `count` times; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [call for call in self.calls if call.method == method]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    made = [call.method for call in self.calls]
                    raise AssertionError(f"{method} called {len(found)} time(s), expected {count}; calls: {made}")
                self._changed.wait(left)

    # --- the API ---

    def handle(self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> tuple[int, dict]:
        """Answer one call: (HTTP status, JSON body)."""
        with self._changed:
            self.calls.append(Call(method, params, files))
            self._changed.notify_all()
            failures = self._failures.get(method)
            failure = failures.pop(0) if failures else None
        if failure:
            body = {"ok": False, "error_code": failure.status, "description": failure.description}
            if failure.retry_after:
                body["parameters"] = {"retry_after": failure.retry_after}
            return failure.status, body
        answer = getattr(self, f"_{method}", None)
        result = answer(params, files) if answer else True
        if isinstance(result, tuple):  # an error answer of the method itself
            return result
        return 200, {"ok": True, "result": result}

    def download(self, file_path: str) -> tuple[int, bytes]:
        """A file download (GET on the file URL)."""
        with self._changed:
            self.calls.append(Call("download", {"file_path": file_path}))
            self._changed.notify_all()
            failures = self._failures.get("download")
            if failures:
                return failures.pop(0).status, b"failed"
        for path, content, _ in self.files.values():
            if path == file_path:
                return 200, content
        return 404, b'{"ok": false, "error_code": 404, "description": "Not Found"}'

    def updates_after(self, offset: int, timeout: float) -> list[dict]:
        """Updates from `offset` on, waiting up to `timeout` seconds for one (long polling)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [u for u in self.updates if u["update_id"] >= offset]
                left = deadline - time.monotonic()
                if found or left <= 0:
                    return found
                self._changed.wait(left)

    def _message(self, params: dict, **content) -> dict:
        chat_id = int(params.get("chat_id", 0))
        return {"message_id": next(self._message_ids), "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Cutout"}, **content}

    def _getMe(self, params, files):
        return {"id": BOT_ID, "is_bot": True, "first_name": "Cutout", "username": BOT_USERNAME,
                "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}

    def _getFile(self, params, files):
        file_id = params.get("file_id")
        if file_id not in self.files:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
        path, _, size = self.files[file_id]
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": size, "file_path": path}

    def _getUpdates(self, params, files):
        return self.updates_after(int(params.get("offset") or 0), min(float(params.get("timeout") or 0), 1.0))

    def _getStarTransactions(self, params, files):
        offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 100)
        with self._changed:
            return {"transactions": self.star_transactions[offset:offset + limit]}

    def _refundStarPayment(self, params, files):
        charge_id, user_id = params.get("telegram_payment_charge_id"), int(params.get("user_id", 0))
        with self._changed:
            paid = [t for t in self.star_transactions if t["id"] == charge_id and "source" in t]
            if not paid or paid[0]["source"]["user"]["id"] != user_id:
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: CHARGE_NOT_FOUND"}
            if any(t["id"] == charge_id and "receiver" in t for t in self.star_transactions):
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: CHARGE_ALREADY_REFUNDED"}
            self.star_transactions.append({"id": charge_id, "amount": paid[0]["amount"], "date": int(time.time()),
                                           "receiver": dict(paid[0]["source"])})
        return True

    def _sendMessage(self, params, files):
        return self._message(params, text=params.get("text", ""))

    def _editMessageText(self, params, files):
        return dict(self._message(params, text=params.get("text", "")), message_id=int(params["message_id"]),
                    edit_date=int(time.time()))

    def _sendDocument(self, params, files):
        name = files.get("document", ("document", b""))[0]
        return self._message(params, document={"file_id": f"doc-{next(self._ids)}", "file_unique_id": "d",
                                               "file_name": name})

    def _sendSticker(self, params, files):
        return self._message(params, sticker={"file_id": f"sticker-{next(self._ids)}", "file_unique_id": "s",
                                              "type": "regular", "width": 512, "height": 512,
                                              "is_animated": False, "is_video": False})

    def _sendInvoice(self, params, files):
        return self._message(params, invoice={"title": params.get("title", ""),
                                              "description": params.get("description", ""),
                                              "start_parameter": "", "currency": params.get("currency", ""),
                                              "total_amount": sum(p["amount"] for p in _prices(params))})

    def _editMessageReplyMarkup(self, params, files):
        return dict(self._message(params, text=""), message_id=int(params["message_id"]),
                    reply_markup=_json(params.get("reply_markup")) or {}, edit_date=int(time.time()))

    # --- sticker sets, refused as the real API refuses ---

    def _createNewStickerSet(self, params, files):
        name, title = str(params.get("name", "")), str(params.get("title", ""))
        suffix = f"_by_{BOT_USERNAME}"
        if not (SET_NAME.fullmatch(name) and len(name) <= 64 and name.lower().endswith(suffix)
                and len(name) > len(suffix)):
            return _refused("invalid sticker set name is specified")
        if not 1 <= len(title) <= 64:
            return _refused("STICKERSET_TITLE_INVALID")
        stickers = [self._sticker(item, files) for item in _json(params.get("stickers")) or []]
        if not 1 <= len(stickers) <= 50:
            return _refused("STICKERS_EMPTY")
        if refusal := next((s for s in stickers if isinstance(s, tuple)), None):
            return refusal
        with self._changed:
            if name.lower() in self.sticker_sets:
                return _refused("sticker set name is already occupied")
            self.sticker_sets[name.lower()] = {"name": name, "title": title, "owner": int(params["user_id"]),
                                               "stickers": stickers}
        return True

    def _addStickerToSet(self, params, files):
        sticker = self._sticker(_json(params.get("sticker")), files)
        if isinstance(sticker, tuple):
            return sticker
        with self._changed:
            found = self.sticker_sets.get(str(params.get("name", "")).lower())
            if found is None:
                return _refused("STICKERSET_INVALID")
            if found["owner"] != int(params.get("user_id", 0)):
                return _refused("USER_ID_INVALID")
            if len(found["stickers"]) >= self.sticker_set_limit:
                return _refused("STICKERS_TOO_MUCH")
            found["stickers"].append(sticker)
        return True

    def _getStickerSet(self, params, files):
        with self._changed:
            found = self.sticker_sets.get(str(params.get("name", "")).lower())
            if found is None:
                return _refused("STICKERSET_INVALID")
            return {"name": found["name"], "title": found["title"], "sticker_type": "regular",
                    "stickers": [_sticker_json(s, found["name"]) for s in found["stickers"]]}

    def _deleteStickerFromSet(self, params, files):
        with self._changed:
            for found in self.sticker_sets.values():
                for sticker in found["stickers"]:
                    if sticker["file_id"] == params.get("sticker"):
                        found["stickers"].remove(sticker)
                        return True
        return _refused("STICKERSET_INVALID")

    def _setStickerEmojiList(self, params, files):
        emoji = _json(params.get("emoji_list")) or []
        if not _emoji_ok(emoji):
            return _refused("STICKER_EMOJI_INVALID")
        with self._changed:
            for found in self.sticker_sets.values():
                for sticker in found["stickers"]:
                    if sticker["file_id"] == params.get("sticker"):
                        sticker["emoji_list"] = emoji
                        return True
        return _refused("STICKER_ID_INVALID")

    def set_stickers(self, name: str) -> list[dict]:
        """The stickers now in a set (each: file_id, emoji_list, content), or [] if there is no such set."""
        with self._changed:
            return list(self.sticker_sets.get(name.lower(), {}).get("stickers", []))

    def _sticker(self, item: dict | None, files: dict) -> dict | tuple:
        """An InputSticker: its uploaded static image, checked as Telegram checks it; or a refusal."""
        item = item or {}
        if item.get("format") != "static":
            return _refused("STICKER_FILE_INVALID")
        if not _emoji_ok(item.get("emoji_list") or []):
            return _refused("STICKER_EMOJI_INVALID")
        source = str(item.get("sticker", ""))
        content = files.get(source.removeprefix("attach://"), (None, None))[1] if source.startswith("attach://") \
            else None
        if content is None:
            return _refused("STICKER_FILE_INVALID")
        if len(content) > STICKER_BYTES:
            return _refused("file is too big")
        try:
            with Image.open(io.BytesIO(content)) as image:
                kind, (width, height) = image.format, image.size
        except OSError:
            return _refused("STICKER_FILE_INVALID")
        if kind not in ("WEBP", "PNG") or max(width, height) != STICKER_SIDE:
            return _refused("STICKER_PNG_DIMENSIONS")
        number = next(self._ids)
        return {"file_id": f"set-sticker-{number}", "file_unique_id": f"ss{number}", "emoji_list": item["emoji_list"],
                "width": width, "height": height, "content": content}

    # --- PTB's side ---

    def request(self) -> FakeRequest:
        """A python-telegram-bot request object that talks to this fake in-process."""
        return FakeRequest(self)


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _refused(description: str) -> tuple[int, dict]:
    return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"}


def _emoji_ok(emoji: list) -> bool:
    return 1 <= len(emoji) <= 20 and all(e and not any(c.isalnum() or c.isspace() for c in e) for e in emoji)


def _sticker_json(sticker: dict, set_name: str) -> dict:
    return {"file_id": sticker["file_id"], "file_unique_id": sticker["file_unique_id"], "type": "regular",
            "width": sticker["width"], "height": sticker["height"], "is_animated": False, "is_video": False,
            "emoji": sticker["emoji_list"][0], "set_name": set_name}


def _prices(params: dict) -> list[dict]:
    prices = params.get("prices") or []
    return json.loads(prices) if isinstance(prices, str) else prices


class FakeRequest(BaseRequest):
    """`telegram.request.BaseRequest` answered by a FakeBotApi, with no network at all."""

    def __init__(self, api: FakeBotApi):
        self.api = api

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout=None, write_timeout=None, connect_timeout=None,
                         pool_timeout=None) -> tuple[int, bytes]:
        url = unquote(url)  # PTB quotes file URLs, the token's colon included
        file_prefix = f"/file/bot{self.api.token}/"
        if file_prefix in url:
            return self.api.download(url.split(file_prefix, 1)[1])
        params = dict(request_data.parameters) if request_data else {}
        files = {}
        if request_data is not None and request_data.contains_files:
            for name, (filename, content, *_rest) in request_data.multipart_data.items():
                files[name] = (filename, content if isinstance(content, bytes) else content.read())
        status, body = self.api.handle(url.rsplit("/", 1)[-1], params, files)
        return status, json.dumps(body).encode()
