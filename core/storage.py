"""Files of jobs on disk, named by job id only, written atomically."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

_KEY = re.compile(r"^[0-9a-f]{32}/[a-z]+(\.[a-z]{3,4})?$")


def input_key(job_id: str) -> str:
    return f"{_hex(job_id)}/input"


def output_key(job_id: str, extension: str) -> str:
    return f"{_hex(job_id)}/output.{extension}"


def _hex(job_id) -> str:
    return str(job_id).replace("-", "").lower()


class Storage:
    """A directory of job files; keys come from `input_key` / `output_key`, never from a client."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"not a storage key: {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        """Write a file whole or not at all (temp file in the same directory, then rename)."""
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

    def delete(self, key: str) -> None:
        target = self.path(key)
        target.unlink(missing_ok=True)
        try:
            target.parent.rmdir()
        except OSError:
            pass  # other files of the job remain
