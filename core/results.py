"""A finished job's file, the same for every front end: its bytes, content type and download name."""

from __future__ import annotations

from dataclasses import dataclass

from core.enums import JobStatus
from core.errors import JobNotReady, ResultGone
from core.jobs import get_job
from core.storage import Storage


@dataclass(frozen=True)
class ResultFile:
    """A finished job's file, as every front end sends it."""

    data: bytes
    content_type: str
    filename: str


def result_file(job_id, storage: Storage, user_id: int | None = None) -> ResultFile:
    """A done job's file (get_job's rules); JobNotReady before it is done, ResultGone once purged."""
    job = get_job(job_id, user_id)
    if job.status != JobStatus.DONE or not job.output_key:
        raise JobNotReady(f"The job is {job.status}; the result exists only when it is done.")
    try:
        data = storage.get(job.output_key)
    except FileNotFoundError:
        raise ResultGone("The result's file is no longer kept.") from None
    return ResultFile(data, job.output_content_type or job.options.content_type, job.result_filename)
