"""Helpers for the panel and API tests: an app on the test database, users, tokens, jobs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import count

from flask import Flask
from flask.testing import FlaskClient

from admin_panel import create_app
from core import accounts, jobs, tokens
from core.queue import MemoryQueue
from core.ratelimit import Limiter
from core.settings import Settings
from core.storage import Store, open_storage, output_key
from core.views import JobView, UserView
from tests.support.images import encode, subject_image

_telegram_ids = count(700_000_001)


def png(size: tuple[int, int] = (24, 16)) -> bytes:
    """A small valid PNG."""
    return encode(subject_image(size))


@dataclass
class Panel:
    """The app under test and the ways to drive it."""

    settings: Settings
    app: Flask
    client: FlaskClient
    queue: MemoryQueue
    storage: Store
    limiter: Limiter = field(default_factory=Limiter)

    @classmethod
    def build(cls, settings: Settings, **kwargs) -> Panel:
        queue, storage = MemoryQueue(settings), open_storage(settings)
        limiter = kwargs.pop("limiter", None) or Limiter()
        app = create_app(settings, queue=queue, storage=storage, limiter=limiter)
        app.config["TESTING"] = True
        return cls(settings, app, app.test_client(), queue, storage, limiter)

    def user(self, credits: int = 3, admin: bool = False, name: str | None = None) -> UserView:
        """A Telegram user (no password hashing, so it is quick) with `credits` bonus credits."""
        user, _ = accounts.register_telegram_user(next(_telegram_ids), username=name, signup_bonus=credits)
        return accounts.promote_to_admin(user.id) if admin else user

    def admin(self) -> UserView:
        return self.user(admin=True, name="root_admin")

    def token(self, user: UserView) -> str:
        return tokens.issue_access_token(accounts.get_user(user.id), self.settings)

    def auth(self, user: UserView) -> dict:
        return {"Authorization": f"Bearer {self.token(user)}"}

    def submit(self, user: UserView, data: bytes | None = None, name: str = "photo.png", **options):
        """POST /api/v1/jobs as the user."""
        from io import BytesIO

        form = {"image": (BytesIO(png() if data is None else data), name), **options}
        return self.client.post("/api/v1/jobs", data=form, headers=self.auth(user),
                                content_type="multipart/form-data")

    def job(self, user: UserView, **options) -> JobView:
        response = self.submit(user, **options)
        assert response.status_code == 202, response.get_json()
        return jobs.get_job(response.get_json()["id"])

    def finish(self, job_id: str, data: bytes | None = None, content_type: str = "image/png") -> JobView:
        """Do a worker's part: start the job, store an output, complete it."""
        jobs.start_job(job_id)
        key = output_key(job_id, content_type.split("/")[1].replace("jpeg", "jpg"))
        self.storage.put(key, data if data is not None else png())
        assert jobs.complete_job(job_id, output_key=key, content_type=content_type)
        self.queue.publish_finished(job_id)  # as a worker announces it
        return jobs.get_job(job_id)

    def sign_in_browser(self, user: UserView) -> None:
        """Give the test client the HttpOnly cookie a browser gets at sign-in."""
        self.client.set_cookie("cutout_token", self.token(user))

    def csrf(self) -> str:
        """This client's CSRF token, read from a page's meta tag (the page sets the cookie)."""
        html = self.client.get("/login").get_data(as_text=True)
        return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def form(panel, path, data=None, token=True, **kwargs):
    """POST a form as the browser does, with the CSRF token of the page unless token=False."""
    data = dict(data or {})
    if token:
        data["csrf_token"] = panel.csrf()
    return panel.client.post(path, data=data, **kwargs)


def html(response) -> str:
    return response.get_data(as_text=True)
