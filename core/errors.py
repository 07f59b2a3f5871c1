"""Domain errors: every front end turns these into a chat reply or an HTTP status."""


class CutoutError(Exception):
    """Base of every domain error; `code` is stable and machine-readable."""

    code = "error"

    def __init__(self, message: str | None = None):
        super().__init__(message or self.__doc__)

    @property
    def message(self) -> str:
        return str(self)


class SettingsError(CutoutError):
    """A setting is missing or malformed."""

    code = "bad_setting"


class UserNotFound(CutoutError):
    """No such user."""

    code = "user_not_found"


class UserBlocked(CutoutError):
    """This account is blocked."""

    code = "user_blocked"


class EmailTaken(CutoutError):
    """This email is already registered."""

    code = "email_taken"


class InvalidEmail(CutoutError):
    """This is not a valid email address."""

    code = "invalid_email"


class WeakPassword(CutoutError):
    """The password is too weak."""

    code = "weak_password"


class InvalidCredentials(CutoutError):
    """Wrong email or password."""

    code = "invalid_credentials"


class WrongPassword(CutoutError):
    """The current password is wrong."""

    code = "wrong_password"


class AccountExists(CutoutError):
    """An account with this email exists already."""

    code = "account_exists"


class LastAdmin(CutoutError):
    """The last admin cannot stop being one."""

    code = "last_admin"


class InvalidAmount(CutoutError):
    """The amount is not valid."""

    code = "invalid_amount"


class ReasonRequired(CutoutError):
    """A reason is required."""

    code = "reason_required"


class InsufficientCredits(CutoutError):
    """Not enough credits."""

    code = "insufficient_credits"


class TooManyJobs(CutoutError):
    """Too many jobs are already in progress."""

    code = "too_many_jobs"


class DuplicateSubmission(CutoutError):
    """This chat message already made a job (a Telegram update delivered twice)."""

    code = "duplicate_submission"

    def __init__(self, job_id: str):
        super().__init__("This photo is already being processed.")
        self.job_id = job_id


class IdempotencyConflict(CutoutError):
    """An Idempotency-Key already used, within a day, for another request."""

    code = "idempotency_conflict"


class InvalidIdempotencyKey(CutoutError):
    code = "invalid_idempotency_key"


class PaymentNotFound(CutoutError):
    """No Telegram Stars payment with this charge id."""

    code = "payment_not_found"


class AlreadyRefunded(CutoutError):
    """This payment has already been refunded."""

    code = "already_refunded"


class TelegramUnavailable(CutoutError):
    """Telegram could not be reached or refused the request."""

    code = "telegram_unavailable"


class JobNotFound(CutoutError):
    """No such job."""

    code = "job_not_found"


class JobNotReady(CutoutError):
    """The job has not finished yet."""

    code = "job_not_ready"


class ResultGone(CutoutError):
    """The job is done, but its file is no longer kept (purged)."""

    code = "result_gone"


class RenderUnavailable(CutoutError):
    """The job cannot be made again: it has no stored mask (it was made before masks were kept)."""

    code = "render_unavailable"


class TooManyRenders(CutoutError):
    """The job's re-renders (MAX_RENDERS_PER_JOB) or the person's per minute are used up."""

    code = "too_many_renders"

    def __init__(self, message: str | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class NotASticker(CutoutError):
    """Only a sticker result can go into a sticker set."""

    code = "not_a_sticker"


class StickerNotFound(CutoutError):
    """No such sticker of this person's in a set (never added, or taken out already)."""

    code = "sticker_not_found"


class InvalidJobState(CutoutError):
    """The job is not in a state that allows this."""

    code = "invalid_job_state"


class InvalidOptions(CutoutError):
    """The output options are not valid."""

    code = "invalid_options"


class InvalidImage(CutoutError):
    """The file is not an image that can be processed."""

    code = "invalid_image"


class ImageTooLarge(CutoutError):
    """The image is too large."""

    code = "image_too_large"


class QueueUnavailable(CutoutError):
    """The job queue cannot be reached."""

    code = "queue_unavailable"


class DatabaseUnavailable(Exception):
    """The database cannot be reached for now (refused, reset, restarting, or every pooled
    connection busy past DB_POOL_TIMEOUT_SECONDS). Not a CutoutError: nothing is wrong with the
    request, so no handler of domain errors words it as a refusal; each front end says once
    "try again shortly" (HTTP 503 with Retry-After, a chat message) and a worker waits for it."""

    code = "unavailable"
    retry_after = 5  # seconds, for HTTP's Retry-After

    def __init__(self, message: str | None = None):
        super().__init__(message or "The service is briefly unavailable; try again in a few seconds.")

    @property
    def message(self) -> str:
        return str(self)


class InvalidToken(CutoutError):
    """The token is invalid or expired."""

    code = "invalid_token"


class ModelUnavailable(SettingsError):
    """The background-removal model is not installed; run `make model`."""

    code = "model_unavailable"
