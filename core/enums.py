"""The domain's fixed vocabularies, as string enums: stored as their values (the schema is unchanged)
and equal to them, so a status read back from the database compares equal to its member."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A job waiting for or in the hands of a worker; one that will not change any more.
ACTIVE = (JobStatus.QUEUED, JobStatus.PROCESSING)
FINISHED = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class JobSource(StrEnum):
    TELEGRAM = "telegram"
    API = "api"
    REMOVEBG = "removebg"  # the remove.bg-compatible endpoint


class EntryKind(StrEnum):
    """What a ledger entry records."""

    SIGNUP_BONUS = "signup_bonus"
    TOPUP = "topup"
    CHARGE = "charge"
    REFUND = "refund"  # a failed or cancelled job's charge given back
    PAYMENT_REFUND = "payment_refund"  # a Stars payment given back: its credits taken back
    ADJUSTMENT = "adjustment"
    RENDER = "render"  # a re-render of a done job (PRICE_PER_RENDER), its ledger row names the render


class EntryStatus(StrEnum):
    """A charge is pending until its job is done (completed) or refunded; other entries are completed."""

    PENDING = "pending"
    COMPLETED = "completed"
    REFUNDED = "refunded"


class Bucket(StrEnum):
    """Where credits are held: bonus credits are spent first."""

    BONUS = "bonus"
    PAID = "paid"


class AdminActionKind(StrEnum):
    """What an admin did (the audit log)."""

    CREATE_ADMIN = "create_admin"
    PROMOTE = "promote"
    DEMOTE = "demote"
    BLOCK = "block"
    UNBLOCK = "unblock"
    ADJUST_CREDITS = "adjust_credits"
    RETRY_JOB = "retry_job"
    REFUND_PAYMENT = "refund_payment"
