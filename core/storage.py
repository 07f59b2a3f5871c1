"""Files of jobs, named by job id only: in a directory (the default) or an S3-compatible bucket
(core/s3.py). Both keep the same promises: keys are made here, never by a client; a write is whole
or absent; a missing key is FileNotFoundError; deleting is idempotent."""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

_KEY = re.compile(r"^[0-9a-f]{32}/[a-z]+(\.[a-z]{3,4})?$")


def input_key(job_id: str) -> str:
    return f"{_hex(job_id)}/input"


def output_key(job_id: str, extension: str) -> str:
    return f"{_hex(job_id)}/output.{extension}"


def mask_key(job_id: str) -> str:
    return f"{_hex(job_id)}/mask.png"


def job_key(job_id: str, name: str) -> str:
    """Another file kept beside a job's (core.previews); `name` like "thumb.webp"."""
    return check_key(f"{_hex(job_id)}/{name}")


def _hex(job_id) -> str:
    return str(job_id).replace("-", "").lower()


def check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class Store(ABC):
    """Where job files live; keys come from `input_key` / `output_key`."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, whole or not at all; a second put replaces the first."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes under `key`; FileNotFoundError when there are none."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key`; nothing happens when it is already gone."""

    @abstractmethod
    def list_keys(self) -> Iterator[str]:
        """Every job file's key, in no particular order (storage-migrate walks them)."""

    def size(self, key: str) -> int | None:
        """The stored size of `key`, or None when it is missing."""
        try:
            return len(self.get(key))
        except FileNotFoundError:
            return None

    def explain(self, exc: BaseException) -> str:
        """What is wrong with this store, in one line, from the error an operation raised."""
        return f"{type(exc).__name__}: {exc}"

    def url(self, key: str, *, content_type: str, seconds: int, disposition: str | None = None) -> str | None:
        """A time-limited URL that serves `key` (with this Content-Type and Content-Disposition)
        without this process, or None: stream it instead."""
        return None


class DirectoryStore(Store):
    """A directory of job files (one host, or a shared volume)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"directory {self.root}"

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        """A temp file in the same directory, flushed to disk, then renamed over the key."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        target = self.path(key)
        target.unlink(missing_ok=True)
        try:
            target.parent.rmdir()
        except OSError:
            pass  # other files of the job remain

    def list_keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for job_dir in self.root.iterdir():
            if job_dir.is_dir():
                for file in job_dir.iterdir():
                    key = f"{job_dir.name}/{file.name}"
                    if _KEY.fullmatch(key) and file.is_file():
                        yield key


def check_store(store: Store) -> int:
    """Write, read back and delete one object; its size, or the first error raised."""
    key, data = f"{uuid.uuid4().hex}/check", os.urandom(1024)
    store.put(key, data)
    try:
        if store.get(key) != data:
            raise OSError("the object read back differs from the one written")
    finally:
        store.delete(key)
    if store.exists(key):
        raise OSError("the object is still there after it was deleted")
    return len(data)


def copy_store(source: Store, target: Store, report=lambda key, error: None) -> tuple[int, int, int]:
    """Copy every job file of `source` that `target` lacks (or holds at another size); resumable:
    a second run copies only what the first did not. (copied, already there, failed); `report`
    hears of each failure and the run goes on."""
    copied = present = failed = 0
    for key in source.list_keys():
        try:
            size = source.size(key)
            if size is not None and target.size(key) == size:
                present += 1
                continue
            target.put(key, source.get(key))
            copied += 1
        except FileNotFoundError:
            continue  # purged meanwhile
        except Exception as exc:
            failed += 1
            report(key, exc)
    return copied, present, failed


def storage_location(settings) -> str:
    """STORAGE_URL, or the older STORAGE_DIR when STORAGE_URL is empty."""
    return settings.storage_url or settings.storage_dir


def open_storage(settings, location: str | None = None) -> Store:
    """The store of `location` (default: the settings' STORAGE_URL): `s3://bucket/prefix`,
    `file:///path` or a plain path."""
    location = location or storage_location(settings)
    parts = urlsplit(location)
    if parts.scheme == "s3":
        from core.s3 import S3Store  # boto3 loads only for a bucket

        return S3Store.from_url(location, settings)
    if parts.scheme == "file":
        return DirectoryStore(unquote(parts.path))
    if parts.scheme and len(parts.scheme) > 1:  # not a Windows drive letter
        raise ValueError(f"STORAGE_URL must be a directory, file:///path or s3://bucket/prefix, not {location!r}")
    return DirectoryStore(location)
