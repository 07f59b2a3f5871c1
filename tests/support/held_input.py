"""A job's input held back from the worker that reads it, so that "mid-job" is a state the test
controls rather than a race."""

from __future__ import annotations

import errno
import os
import time

from core.storage import Store


class HeldInput:
    """The job's input file swapped for a FIFO: a worker that reads it blocks until the test
    lets go, which makes "mid-job" a state the test controls rather than a race."""

    def __init__(self, storage: Store, job):
        self.path = storage.path(job.input_key)
        self.data = self.path.read_bytes()
        self.path.unlink()
        os.mkfifo(self.path)

    def restore(self) -> None:
        """Put the real file back (for a worker that reads it later)."""
        temporary = self.path.parent / ".restored"
        temporary.write_bytes(self.data)
        os.replace(temporary, self.path)

    def feed(self, timeout: float = 30.0) -> None:
        """Hand the photo to the worker blocked on the FIFO."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)  # fails until a reader is there
                break
            except OSError as exc:
                if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(self.data)
