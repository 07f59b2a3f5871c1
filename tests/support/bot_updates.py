"""Telegram updates as the Bot API sends them (JSON dicts), for one person in a private chat."""

from __future__ import annotations

import itertools
import time

from tests.support.fake_bot_api import BOT_ID


class Person:
    """Builds the updates one Telegram user would cause."""

    _update_ids = itertools.count(1)
    _message_ids = itertools.count(1)

    def __init__(self, user_id: int = 5001, *, language: str = "en", first_name: str = "Ann",
                 username: str | None = "ann"):
        self.id = user_id
        self.user = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language}
        if username:
            self.user["username"] = username

    def _update(self, **content) -> dict:
        return {"update_id": next(self._update_ids), **content}

    def _message(self, **content) -> dict:
        return {"message_id": next(self._message_ids), "date": int(time.time()), "from": self.user,
                "chat": {"id": self.id, "type": "private", "first_name": self.user["first_name"]}, **content}

    def text(self, text: str) -> dict:
        """A text message; a leading /command gets its bot_command entity, as Telegram adds."""
        content = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self._update(message=self._message(**content))

    def photo(self, file_id: str, file_size: int | None = 50_000, media_group_id: str | None = None) -> dict:
        """A photo in two sizes (the larger one last, as Telegram orders them)."""
        sizes = [{"file_id": f"{file_id}-thumb", "file_unique_id": "t", "width": 90, "height": 60,
                  "file_size": 1000},
                 {"file_id": file_id, "file_unique_id": "p", "width": 1280, "height": 853}]
        if file_size is not None:
            sizes[1]["file_size"] = file_size
        content = {"photo": sizes}
        if media_group_id:
            content["media_group_id"] = media_group_id
        return self._update(message=self._message(**content))

    def document(self, file_id: str, file_name: str, mime_type: str, file_size: int | None = 50_000) -> dict:
        """A file sent as a document."""
        document = {"file_id": file_id, "file_unique_id": "d", "file_name": file_name, "mime_type": mime_type}
        if file_size is not None:
            document["file_size"] = file_size
        return self._update(message=self._message(document=document))

    def video(self) -> dict:
        return self._update(message=self._message(video={
            "file_id": "video-1", "file_unique_id": "v", "width": 640, "height": 480, "duration": 3}))

    def voice(self) -> dict:
        return self._update(message=self._message(voice={"file_id": "voice-1", "file_unique_id": "vo",
                                                         "duration": 2}))

    def sticker(self) -> dict:
        return self._update(message=self._message(sticker={
            "file_id": "sticker-1", "file_unique_id": "st", "type": "regular", "width": 512, "height": 512,
            "is_animated": False, "is_video": False}))

    def press(self, data: str, message_id: int = 900, text: str = "menu") -> dict:
        """A press of an inline button with callback `data` under a bot message."""
        message = {"message_id": message_id, "date": int(time.time()), "text": text,
                   "from": {"id": BOT_ID, "is_bot": True, "first_name": "Cutout"},
                   "chat": {"id": self.id, "type": "private", "first_name": self.user["first_name"]}}
        return self._update(callback_query={"id": f"cb-{next(self._update_ids)}", "from": self.user,
                                            "chat_instance": "ci", "data": data, "message": message})

    def pre_checkout(self, payload: str, total_amount: int, currency: str = "XTR") -> dict:
        return self._update(pre_checkout_query={"id": f"pcq-{next(self._update_ids)}", "from": self.user,
                                                "currency": currency, "total_amount": total_amount,
                                                "invoice_payload": payload})

    def paid(self, payload: str, total_amount: int, charge_id: str, currency: str = "XTR") -> dict:
        """The successful_payment service message Telegram sends after a payment."""
        return self._update(message=self._message(successful_payment={
            "currency": currency, "total_amount": total_amount, "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id, "provider_payment_charge_id": ""}))

    def refunded(self, payload: str, total_amount: int, charge_id: str) -> dict:
        """The refunded_payment service message Telegram sends after a refund (made anywhere)."""
        return self._update(message=self._message(refunded_payment={
            "currency": "XTR", "total_amount": total_amount, "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id}))

    def edited(self, update: dict) -> dict:
        """The same message edited later (Telegram sends it as edited_message)."""
        message = dict(update["message"], edit_date=int(time.time()))
        return self._update(edited_message=message)

    def in_group(self, update: dict, chat_id: int = -100123) -> dict:
        """The same message posted in a group chat instead of the private chat."""
        message = dict(update["message"], chat={"id": chat_id, "type": "supergroup", "title": "A group"})
        return self._update(message=message)
