"""A finished job's file, the same for every front end: its bytes, content type and download name."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from core.enums import JobStatus
from core.errors import JobNotReady, ResultGone
from core.jobs import get_job
from core.storage import Store
from core.views import JobView


@dataclass(frozen=True)
class ResultFile:
    """A finished job's file, as every front end sends it."""

    data: bytes
    content_type: str
    filename: str


def result_file(job_id, storage: Store, user_id: int | None = None) -> ResultFile:
    """A done job's file (get_job's rules); JobNotReady before it is done, ResultGone once purged."""
    job = _done_job(job_id, user_id)
    try:
        data = storage.get(job.output_key)
    except FileNotFoundError:
        raise ResultGone(GONE) from None
    return ResultFile(data, _content_type(job), job.result_filename)


def result_url(job_id, storage: Store, user_id: int | None = None, *, seconds: int,
               download: bool = False) -> str | None:
    """A time-limited URL of the store that serves a done job's file (result_file's rules), or
    None when the store cannot make one (a directory): then stream result_file."""
    job = _done_job(job_id, user_id)
    if not storage.exists(job.output_key):
        raise ResultGone(GONE)
    return storage.url(job.output_key, content_type=_content_type(job), seconds=seconds,
                       disposition=attachment(job.result_filename) if download else None)


def attachment(filename: str, kind: str = "attachment") -> str:
    """A Content-Disposition (a download, or `kind` "inline"); a name beyond ASCII goes in RFC
    6266's filename*."""
    if filename.isascii():
        return f'{kind}; filename="{filename}"'
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


GONE = "The result's file is no longer kept."


def _done_job(job_id, user_id: int | None) -> JobView:
    job = get_job(job_id, user_id)
    if job.status != JobStatus.DONE or not job.output_key:
        raise JobNotReady(f"The job is {job.status}; the result exists only when it is done.")
    return job


def _content_type(job: JobView) -> str:
    return job.output_content_type or job.options.content_type
