"""Peewee models: fields, constraints and named queries; no workflows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    Check,
    DateTimeField,
    DoubleField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
    UUIDField,
)

from core.db import db
from core.enums import ACTIVE, EntryStatus, JobStatus


def utcnow() -> datetime:
    """Naive UTC now: both databases store it the same way."""
    return datetime.now(UTC).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class User(BaseModel):
    telegram_id = BigIntegerField(null=True, unique=True)
    username = CharField(max_length=64, null=True)
    first_name = CharField(max_length=128, null=True)
    last_name = CharField(max_length=128, null=True)
    email = CharField(max_length=254, null=True, unique=True)  # stored lower-cased
    password_hash = CharField(max_length=255, null=True)
    is_admin = BooleanField(default=False)
    is_blocked = BooleanField(default=False)
    language = CharField(max_length=8, default="en")
    bonus_credits = IntegerField(default=0, constraints=[Check("bonus_credits >= 0")])
    paid_credits = IntegerField(default=0, constraints=[Check("paid_credits >= 0")])
    # JSON of the user's default output options (see core.options); the column keeps its first name.
    options = TextField(default="{}", column_name="settings")
    # Bumped to revoke every sign-in token issued before (sign-out, password change, new API key).
    token_version = IntegerField(default=0)
    # Bumped to revoke every API key issued before (a new key, a password change).
    key_version = IntegerField(default=0)
    # Set on a first admin with a generated password: the panel asks for a new one first.
    must_change_password = BooleanField(default=False)
    sticker_emoji = CharField(max_length=32, null=True)  # the emoji of the person's next sticker
    told_send_as_file = BooleanField(default=False)  # the full-resolution tip was given (once)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "users"

    @classmethod
    def search(cls, q: str = ""):
        query = cls.select().order_by(cls.id)
        if q:
            pattern = f"%{q.lower()}%"
            query = query.where(
                cls.email ** pattern | cls.username ** pattern | cls.first_name ** pattern
            )
        return query


class Album(BaseModel):
    """Photos a person sent together (one Telegram media group): one request, one status message."""

    user = ForeignKeyField(User, backref="albums", on_delete="RESTRICT")
    chat_id = BigIntegerField()
    media_group_id = CharField(max_length=64)
    status_message_id = BigIntegerField(null=True)
    photos = IntegerField()  # how many photos came, taken or skipped
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "albums"
        indexes = ((("chat_id", "media_group_id"), True),)


class Job(BaseModel):
    id = UUIDField(primary_key=True, default=uuid.uuid4)
    user = ForeignKeyField(User, backref="jobs", on_delete="RESTRICT")
    source = CharField(max_length=16)  # core.enums.JobSource
    chat_id = BigIntegerField(null=True)
    message_id = BigIntegerField(null=True)
    status_message_id = BigIntegerField(null=True)
    options = TextField(default="{}")  # JSON, see core.options.JobOptions
    status = CharField(max_length=16, default=JobStatus.QUEUED, index=True)
    attempts = IntegerField(default=0)
    error = TextField(null=True)
    price = IntegerField(constraints=[Check("price >= 0")])
    input_key = CharField(max_length=128, null=True)
    output_key = CharField(max_length=128, null=True)
    input_name = CharField(max_length=255, null=True)
    input_bytes = IntegerField(null=True)
    input_format = CharField(max_length=16, null=True)  # Pillow's name: JPEG, HEIF, AVIF, GIF ...
    first_frame_only = BooleanField(default=False)  # an animation: only its first frame was cut out
    output_content_type = CharField(max_length=64, null=True)
    mask_key = CharField(max_length=128, null=True)  # the model's mask, kept for re-renders
    model = CharField(max_length=64, null=True)  # the model that made the mask
    width = IntegerField(null=True)
    height = IntegerField(null=True)
    created_at = DateTimeField(default=utcnow, index=True)
    queued_at = DateTimeField(default=utcnow)  # last (re)publish, for the sweeper
    published_at = DateTimeField(null=True)  # the broker confirmed the last publish
    worker = CharField(max_length=128, null=True)  # who holds the job while it is processing ...
    lease_until = DateTimeField(null=True)  # ... and until when; after that another may take it
    started_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)
    delivered_at = DateTimeField(null=True)
    delivery_error = TextField(null=True)
    purged_at = DateTimeField(null=True)
    album = ForeignKeyField(Album, null=True, backref="jobs", on_delete="RESTRICT")

    class Meta:
        table_name = "jobs"
        # A chat message makes one job, however often Telegram delivers its update (NULLs, the API's
        # jobs, are distinct).
        indexes = ((("chat_id", "message_id"), True),)

    @classmethod
    def for_user(cls, user_id: int):
        return cls.select().where(cls.user == user_id).order_by(cls.created_at.desc(), cls.id)

    @classmethod
    def in_flight(cls, user_id: int):
        return cls.select().where(cls.user == user_id, cls.status.in_(ACTIVE))


class Transaction(BaseModel):
    """One ledger row. Rows are never deleted and their amounts never change."""

    user = ForeignKeyField(User, backref="transactions", on_delete="RESTRICT")
    kind = CharField(max_length=16)  # core.enums.EntryKind
    amount = IntegerField()  # signed
    bucket = CharField(max_length=8, constraints=[Check("bucket IN ('bonus', 'paid')")])
    status = CharField(max_length=16, default=EntryStatus.COMPLETED)  # core.enums.EntryStatus
    balance_after = IntegerField()
    job = ForeignKeyField(Job, null=True, backref="transactions", on_delete="RESTRICT")
    payment_id = CharField(max_length=255, null=True, unique=True)
    note = TextField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "transactions"

    @classmethod
    def for_user(cls, user_id: int):
        return cls.select().where(cls.user == user_id).order_by(cls.id.desc())


class AdminAction(BaseModel):
    """One admin action: who (None: the command line), what, on whom or what, why. Never changed."""

    admin = ForeignKeyField(User, null=True, backref="actions_taken", on_delete="RESTRICT")
    action = CharField(max_length=32, index=True)  # core.enums.AdminActionKind
    user = ForeignKeyField(User, null=True, backref="actions_received", on_delete="RESTRICT")
    subject = CharField(max_length=255, null=True)  # a job id, a payment's charge id
    reason = TextField(null=True)
    detail = TextField(null=True)  # what changed, in words ("+10 bonus credits")
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "admin_actions"


class RateLimit(BaseModel):
    """One counter of a rate limit or a sign-in slow-down (core.ratelimit)."""

    key = CharField(primary_key=True, max_length=255)
    started = DoubleField()  # seconds since the epoch: the window's start, or the first failure
    last = DoubleField(index=True)  # the latest hit
    hits = IntegerField()

    class Meta:
        table_name = "rate_limits"


class IdempotencyKey(BaseModel):
    """An API client's Idempotency-Key and the job its first request made (kept a day)."""

    user = ForeignKeyField(User, backref="idempotency_keys", on_delete="CASCADE")
    key = CharField(max_length=255)
    fingerprint = CharField(max_length=64)  # sha256 of the image and the options
    job = ForeignKeyField(Job, backref="idempotency_keys", on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "idempotency_keys"
        indexes = ((("user", "key"), True),)


class UsedLoginLink(BaseModel):
    """The id of a one-time sign-in link that has been redeemed (see core.tokens)."""

    jti = CharField(primary_key=True, max_length=64)
    user = ForeignKeyField(User, backref="used_login_links", on_delete="CASCADE")
    used_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "used_login_links"


class Render(BaseModel):
    """A job made again from its stored input and mask with other options (no model run)."""

    job = ForeignKeyField(Job, backref="renders", on_delete="RESTRICT", index=True)
    user = ForeignKeyField(User, backref="renders", on_delete="RESTRICT")
    options = TextField()  # JSON, core.options.JobOptions
    price = IntegerField()
    created_at = DateTimeField(default=utcnow, index=True)
    refunded_at = DateTimeField(null=True)  # its file never reached the person: the price went back

    class Meta:
        table_name = "renders"


class StickerSet(BaseModel):
    """A person's sticker set on Telegram, made by the bot; a full one is followed by the next."""

    user = ForeignKeyField(User, backref="sticker_sets", on_delete="RESTRICT")
    name = CharField(max_length=64, unique=True)  # Telegram's: <prefix>_<id>[_<n>]_by_<bot>
    title = CharField(max_length=64)
    number = IntegerField()  # the person's 1st, 2nd, ... set
    stickers = IntegerField(default=0)  # put there by the bot and not taken out
    full = BooleanField(default=False)  # Telegram takes no more (or the set is gone)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "sticker_sets"
        indexes = ((("user", "number"), True),)


class Sticker(BaseModel):
    """A result put into a person's sticker set: a job's sticker or a re-render's."""

    sticker_set = ForeignKeyField(StickerSet, backref="members", on_delete="RESTRICT")
    user = ForeignKeyField(User, backref="stickers", on_delete="RESTRICT")
    job = ForeignKeyField(Job, backref="stickers", on_delete="RESTRICT")
    render = ForeignKeyField(Render, null=True, backref="stickers", on_delete="RESTRICT")
    file_id = CharField(max_length=255)  # the sticker in the set, as Telegram names it
    emoji = CharField(max_length=32)
    added_at = DateTimeField(default=utcnow)
    removed_at = DateTimeField(null=True)

    class Meta:
        table_name = "stickers"


ALL_MODELS = [User, Album, Job, Transaction, AdminAction, IdempotencyKey, UsedLoginLink, RateLimit, Render,
              StickerSet, Sticker]
