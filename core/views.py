"""Frozen values the services return; front ends never see a model."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

from core.enums import FINISHED, JobStatus
from core.options import EXTENSIONS, JobOptions

T = TypeVar("T")


@dataclass(frozen=True)
class Balance:
    bonus: int
    paid: int

    @property
    def total(self) -> int:
        return self.bonus + self.paid


@dataclass(frozen=True)
class UserView:
    id: int
    telegram_id: int | None
    username: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    is_admin: bool
    is_blocked: bool
    language: str
    balance: Balance
    options: JobOptions
    token_version: int
    key_version: int
    must_change_password: bool
    created_at: datetime

    @property
    def display_name(self) -> str:
        if self.username:
            return "@" + self.username
        name = " ".join(filter(None, (self.first_name, self.last_name)))
        return name or self.email or f"user {self.id}"

    @classmethod
    def of(cls, user) -> UserView:
        return cls(
            id=user.id,
            telegram_id=user.telegram_id,
            username=user.username,
            first_name=user.first_name,
            last_name=user.last_name,
            email=user.email,
            is_admin=user.is_admin,
            is_blocked=user.is_blocked,
            language=user.language,
            balance=Balance(user.bonus_credits, user.paid_credits),
            options=JobOptions.from_json(user.options),
            token_version=user.token_version,
            key_version=user.key_version,
            must_change_password=user.must_change_password,
            created_at=user.created_at,
        )


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    user_id: int
    kind: str
    amount: int
    bucket: str
    status: str
    balance_after: int
    job_id: str | None
    payment_id: str | None
    note: str | None
    created_at: datetime

    @classmethod
    def of(cls, row) -> LedgerEntry:
        return cls(
            id=row.id,
            user_id=row.user_id,
            kind=row.kind,
            amount=row.amount,
            bucket=row.bucket,
            status=row.status,
            balance_after=row.balance_after,
            job_id=str(row.job_id) if row.job_id else None,
            payment_id=row.payment_id,
            note=row.note,
            created_at=row.created_at,
        )


@dataclass(frozen=True)
class JobView:
    id: str
    user_id: int
    source: str
    status: str
    options: JobOptions
    price: int
    attempts: int
    error: str | None
    chat_id: int | None
    message_id: int | None
    status_message_id: int | None
    input_key: str | None
    output_key: str | None
    input_name: str | None
    output_content_type: str | None
    width: int | None
    height: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    delivered_at: datetime | None
    delivery_error: str | None
    worker: str | None = None
    lease_until: datetime | None = None
    published_at: datetime | None = None
    mask_key: str | None = None
    model: str | None = None
    album_id: int | None = None
    purged_at: datetime | None = None  # its files are gone (core.retention)
    input_format: str | None = None
    first_frame_only: bool = False

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    def lease_seconds_left(self) -> float:
        """How much longer a worker holds the job (0 when it is not processing or the lease ran out)."""
        if self.status != JobStatus.PROCESSING or self.lease_until is None:
            return 0.0
        return max(0.0, (self.lease_until - datetime.now(UTC).replace(tzinfo=None)).total_seconds())

    @property
    def result_filename(self) -> str:
        """The result's download name from the original's: "photo.jpg" -> "photo-cutout.png"."""
        stem = re.sub(r"[^\w.-]+", "_", Path(self.input_name or "photo").stem).strip("._")[:64] or "photo"
        suffix = "mask" if self.options.mode == "mask" else "cutout"
        extension = EXTENSIONS.get(self.output_content_type or "", self.options.extension)
        return f"{stem}-{suffix}.{extension}"

    @classmethod
    def of(cls, job) -> JobView:
        return cls(
            id=str(job.id),
            user_id=job.user_id,
            source=job.source,
            status=job.status,
            options=JobOptions.from_json(job.options),
            price=job.price,
            attempts=job.attempts,
            error=job.error,
            chat_id=job.chat_id,
            message_id=job.message_id,
            status_message_id=job.status_message_id,
            input_key=job.input_key,
            output_key=job.output_key,
            input_name=job.input_name,
            output_content_type=job.output_content_type,
            width=job.width,
            height=job.height,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            delivered_at=job.delivered_at,
            delivery_error=job.delivery_error,
            worker=job.worker,
            lease_until=job.lease_until,
            published_at=job.published_at,
            mask_key=job.mask_key,
            model=job.model,
            album_id=job.album_id,
            purged_at=job.purged_at,
            input_format=job.input_format,
            first_frame_only=job.first_frame_only,
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def paginate(query, page: int, per_page: int, view) -> Page:
    """One page of a query as views; pages count from 1."""
    page = max(1, int(page))
    per_page = min(max(1, int(per_page)), 100)
    items = [view(row) for row in query.paginate(page, per_page)]
    return Page(items=items, page=page, per_page=per_page, total=query.count())
