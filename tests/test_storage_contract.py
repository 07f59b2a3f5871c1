"""One contract for both stores, run against a directory and against a real S3 protocol server
(moto_server): what goes in comes out whole, a missing key is FileNotFoundError, a failed write
leaves nothing, concurrent writers of one key leave one of them whole, purge deletes."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
import urllib.request
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from core import jobs
from core.models import Job
from core.retention import purge_files
from core.s3 import S3Store
from core.storage import DirectoryStore, Store, input_key, output_key
from tests.support.proxy import Proxy
from tests.support.s3 import CREDENTIALS
from tests.support.threads import at_once

KEY = input_key("0f" * 16)


@pytest.fixture(params=["directory", "s3"])
def storage(request, tmp_path) -> Store:
    """Overrides conftest's: every test here (and `submit`) runs on both stores."""
    if request.param == "directory":
        return DirectoryStore(tmp_path / "store")
    return request.getfixturevalue("s3_store")


def test_what_goes_in_comes_out_and_a_second_put_replaces_it(storage):
    storage.put(KEY, b"first")
    assert storage.get(KEY) == b"first" and storage.exists(KEY) and storage.size(KEY) == 5
    storage.put(KEY, b"second, longer")
    assert storage.get(KEY) == b"second, longer" and storage.size(KEY) == 14


def test_a_missing_key_is_file_not_found_and_delete_is_idempotent(storage):
    with pytest.raises(FileNotFoundError):
        storage.get(KEY)
    assert not storage.exists(KEY) and storage.size(KEY) is None
    storage.put(KEY, b"x")
    storage.delete(KEY)
    storage.delete(KEY)
    with pytest.raises(FileNotFoundError):
        storage.get(KEY)


@pytest.mark.parametrize("key", ["../etc/passwd", "0f/input", "0f" * 16 + "/../x", "0F" * 16 + "/input", "",
                                 "0f" * 16 + "/input\n"])
def test_keys_are_made_by_the_server_never_by_a_client(storage, key):
    for call in (lambda: storage.put(key, b"x"), lambda: storage.get(key), lambda: storage.delete(key)):
        with pytest.raises(ValueError, match="not a storage key"):
            call()


def test_concurrent_writers_of_one_key_leave_exactly_one_of_them_whole(storage):
    payloads = [bytes([n]) * (512 * 1024 + n) for n in range(6)]
    outcomes = at_once(*[lambda data=data: storage.put(KEY, data) for data in payloads])
    assert outcomes == [None] * len(payloads)
    assert storage.get(KEY) in payloads


def test_list_keys_names_every_job_file_and_nothing_else(storage):
    keys = {input_key("1a" * 16), output_key("1a" * 16, "png"), input_key("2b" * 16)}
    for key in keys:
        storage.put(key, b"x")
    assert set(storage.list_keys()) == keys


def test_purge_deletes_the_files_of_old_finished_jobs(user, submit, storage):
    job = submit(user.id)
    jobs.fail_job(job.id, "x")
    assert storage.exists(job.input_key)
    assert purge_files(storage, timedelta(seconds=-1)) == 1
    assert not storage.exists(job.input_key)
    assert Job.get_by_id(job.id).purged_at is not None


# --- a write is complete or absent ---


def test_a_directory_write_that_fails_leaves_neither_the_file_nor_a_temporary(tmp_path, monkeypatch):
    store = DirectoryStore(tmp_path)

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        store.put(KEY, b"x" * 100_000)
    assert not store.exists(KEY)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []


def test_an_upload_cut_on_the_way_raises_and_leaves_no_object(s3_store, s3_endpoint):
    proxy = Proxy(("127.0.0.1", urlsplit(s3_endpoint).port), limit=200_000)
    try:
        cut = S3Store(s3_store.bucket, s3_store.prefix, endpoint_url=f"http://127.0.0.1:{proxy.port}",
                      region=CREDENTIALS["AWS_DEFAULT_REGION"], access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                      secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        with pytest.raises(Exception):  # noqa: B017 - botocore's connection error, after its retries
            cut.put(KEY, os.urandom(1_000_000))
        assert proxy.connections >= 1
    finally:
        proxy.close()
    time.sleep(0.3)
    assert not s3_store.exists(KEY)


def test_a_half_sent_body_never_becomes_an_object_on_the_server(s3_store):
    # What the server does with a PUT whose connection closes before the declared length arrived.
    name = f"{s3_store.prefix}/{KEY}"
    url = urlsplit(s3_store.client.generate_presigned_url(
        "put_object", Params={"Bucket": s3_store.bucket, "Key": name}, ExpiresIn=60))
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                     f"Content-Length: 1000000\r\n\r\n".encode() + b"x" * 300_000)
        time.sleep(0.3)
    time.sleep(0.5)
    assert not s3_store.exists(KEY)


def test_an_upload_carries_its_digest_so_the_server_can_refuse_a_corrupted_body(s3_store):
    sent = {}
    s3_store.client.meta.events.register("before-send.s3.PutObject",
                                         lambda request, **_: sent.update(request.headers))
    data = os.urandom(4096)
    s3_store.put(KEY, data)
    assert base64.b64decode(sent["Content-MD5"]) == hashlib.md5(data).digest()


# --- presigned URLs ---


def test_a_directory_makes_no_url_the_caller_streams(tmp_path):
    store = DirectoryStore(tmp_path)
    store.put(KEY, b"x")
    assert store.url(KEY, content_type="image/png", seconds=60) is None


def test_a_presigned_url_serves_the_file_with_its_type_and_name_for_a_limited_time(s3_store):
    s3_store.put(KEY, b"\x89PNG result")
    url = s3_store.url(KEY, content_type="image/png", seconds=60, disposition='attachment; filename="a-cutout.png"')
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"\x89PNG result"
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["Content-Disposition"] == 'attachment; filename="a-cutout.png"'
    # moto does not enforce signatures or expiry (a real store does); the URL carries both.
    query = parse_qs(urlsplit(s3_store.url(KEY, content_type="image/png", seconds=120)).query)
    assert query["X-Amz-Expires"] == ["120"] and query["X-Amz-Signature"][0]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
