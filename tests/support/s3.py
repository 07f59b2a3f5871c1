"""An S3 protocol server for tests: moto's stand-alone server (`moto_server`), started by .ci/run
(TEST_S3_ENDPOINT_URL) or, without it, here on a free loopback port; one new bucket per test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from core.s3 import S3Store

# moto accepts any credentials; these are what the tests and the processes they start use.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "cutout-test", "AWS_SECRET_ACCESS_KEY": "cutout-test-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@contextmanager
def moto_server(log_path: Path):
    """`moto_server` on a free loopback port; its endpoint URL."""
    port = free_port()
    binary = Path(sys.executable).with_name("moto_server")
    with open(log_path, "ab") as log:
        process = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def new_bucket(endpoint: str, prefix: str = "jobs") -> S3Store:
    """A store on a bucket of its own, created now."""
    bucket = f"cutout-{uuid.uuid4().hex[:12]}"
    store = S3Store(bucket, prefix, endpoint_url=endpoint, region=CREDENTIALS["AWS_DEFAULT_REGION"],
                    access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"], secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    store.client.create_bucket(Bucket=bucket)
    return store


def s3_environment(store: S3Store) -> dict[str, str]:
    """The settings that point a process at `store`."""
    return {"STORAGE_URL": f"s3://{store.bucket}/{store.prefix}", "S3_ENDPOINT_URL": store.endpoint_url,
            **CREDENTIALS}


def endpoint_from_environment() -> str | None:
    return os.environ.get("TEST_S3_ENDPOINT_URL") or None
