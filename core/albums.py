"""Albums: photos a person sent together (one Telegram media group, up to 10) are one request,
with one status message; each photo is its own job, charged once, and an album's photos count
as one request against MAX_JOBS_IN_FLIGHT (core.jobs)."""

from __future__ import annotations

from dataclasses import dataclass

from peewee import IntegrityError, fn

from core.db import db
from core.enums import JobStatus
from core.models import Album, Job

MAX_PHOTOS = 10  # Telegram's own limit of an album


@dataclass(frozen=True)
class AlbumProgress:
    """How far an album's photos have got: `taken` of its `photos` became jobs (the rest were
    skipped or refused), `done` and `failed` of those are finished."""

    album_id: int
    chat_id: int
    status_message_id: int | None
    photos: int
    taken: int
    done: int
    failed: int

    @property
    def finished(self) -> bool:
        return self.done + self.failed >= self.taken


def open_album(user_id: int, chat_id: int, media_group_id: str, photos: int) -> int:
    """The album of this chat's media group (made once, however often its photos arrive); its id."""
    found = Album.get_or_none(Album.chat_id == chat_id, Album.media_group_id == media_group_id)
    if found is None:
        try:
            with db.atomic():
                found = Album.create(user=user_id, chat_id=chat_id, media_group_id=media_group_id[:64],
                                     photos=photos)
        except IntegrityError:  # the same album opened at the same moment elsewhere
            found = Album.get(Album.chat_id == chat_id, Album.media_group_id == media_group_id)
    if photos > found.photos:
        Album.update(photos=photos).where(Album.id == found.id).execute()
    return found.id


def set_status_message(album_id: int, message_id: int) -> None:
    """Remember the message that shows the album's progress: the first one (photos that come late
    make a second batch, whose message is updated once; the listener keeps the first current)."""
    Album.update(status_message_id=message_id).where(Album.id == album_id, Album.status_message_id.is_null()).execute()


def progress(album_id: int) -> AlbumProgress:
    """The album's photos and how many of its jobs are done or failed (or cancelled) so far."""
    album = Album.get_by_id(album_id)
    counts = dict(Job.select(Job.status, fn.COUNT(Job.id)).where(Job.album == album_id)
                  .group_by(Job.status).tuples())
    taken = sum(counts.values())
    done = counts.get(JobStatus.DONE, 0)
    failed = counts.get(JobStatus.FAILED, 0) + counts.get(JobStatus.CANCELLED, 0)
    return AlbumProgress(album.id, album.chat_id, album.status_message_id, album.photos, taken, done, failed)
