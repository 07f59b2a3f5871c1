"""STORAGE_URL in practice: the settings, the API on a bucket (streamed or presigned), and the
operator's storage-check and storage-migrate commands, on a real S3 protocol server."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from core.errors import SettingsError
from core.storage import DirectoryStore, input_key, open_storage, output_key
from tests.conftest import make_settings
from tests.support.panel import Panel, png
from tests.support.s3 import s3_environment

ROOT = Path(__file__).resolve().parents[1]


# --- settings ---


@pytest.mark.parametrize(("url", "kind"), [("", DirectoryStore), ("var/elsewhere", DirectoryStore),
                                            ("file:///srv/cutout", DirectoryStore)])
def test_storage_url_names_a_directory_by_path_or_file_url(tmp_path, url, kind):
    store = open_storage(make_settings(tmp_path, storage_url=url))
    assert isinstance(store, kind)
    assert str(store.root) == {"": str(tmp_path / "storage"), "var/elsewhere": "var/elsewhere",
                               "file:///srv/cutout": "/srv/cutout"}[url]


@pytest.mark.parametrize(("environ", "message"), [
    ({"STORAGE_URL": "ftp://host/dir"}, "STORAGE_URL must be a directory, file:///path or s3://bucket/prefix"),
    ({"STORAGE_URL": "s3:///prefix"}, "must name a bucket"),
    ({"STORAGE_PRESIGN": "true"}, "STORAGE_PRESIGN=true needs an s3:// STORAGE_URL"),
    ({"STORAGE_PRESIGN": "sometimes"}, "STORAGE_PRESIGN must be true or false"),
])
def test_a_bad_storage_setting_is_refused_at_start(tmp_path, environ, message):
    with pytest.raises(SettingsError, match=message):
        make_settings(tmp_path, **environ)


# --- the API on a bucket ---


def s3_panel(tmp_path, pg_settings, store, **overrides) -> Panel:
    """The panel on PostgreSQL with its files in `store`."""
    environment = {key.lower(): value for key, value in s3_environment(store).items()}
    return Panel.build(make_settings(tmp_path, database_url=pg_settings.database_url, **environment, **overrides))


def test_the_api_streams_a_result_from_the_bucket(tmp_path, pg_settings, s3_store):
    panel = s3_panel(tmp_path, pg_settings, s3_store)
    user = panel.user()
    job = panel.finish(panel.job(user).id, data=png((30, 20)))
    assert s3_store.exists(job.input_key) and s3_store.exists(job.output_key)
    response = panel.client.get(f"/api/v1/jobs/{job.id}/result", headers=panel.auth(user))
    assert response.status_code == 200 and response.data == png((30, 20))
    assert not (tmp_path / "storage").exists()  # nothing on the local disk


def test_with_presign_the_result_is_a_302_to_a_url_that_serves_it(tmp_path, pg_settings, s3_store):
    panel = s3_panel(tmp_path, pg_settings, s3_store, storage_presign="true", storage_presign_seconds="90")
    user = panel.user()
    job = panel.finish(panel.job(user).id, data=png((30, 20)))
    response = panel.client.get(f"/api/v1/jobs/{job.id}/result?download=1", headers=panel.auth(user))
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "private, no-store"
    location = response.headers["Location"]
    assert urlsplit(location).netloc == urlsplit(s3_store.endpoint_url).netloc and "X-Amz-Expires=90" in location
    with urllib.request.urlopen(location, timeout=10) as served:
        assert served.read() == png((30, 20)) and served.headers["Content-Type"] == "image/png"
        assert served.headers["Content-Disposition"] == 'attachment; filename="photo-cutout.png"'


def test_presign_keeps_the_apis_rules_owner_only_409_before_done_410_once_purged(tmp_path, pg_settings, s3_store):
    panel = s3_panel(tmp_path, pg_settings, s3_store, storage_presign="true")
    owner, stranger = panel.user(), panel.user()
    job = panel.job(owner)
    assert panel.client.get(f"/api/v1/jobs/{job.id}/result", headers=panel.auth(owner)).status_code == 409
    panel.finish(job.id)
    assert panel.client.get(f"/api/v1/jobs/{job.id}/result", headers=panel.auth(stranger)).status_code == 404
    s3_store.delete(output_key(job.id, "png"))
    gone = panel.client.get(f"/api/v1/jobs/{job.id}/result", headers=panel.auth(owner))
    assert gone.status_code == 410 and gone.get_json()["error"] == "result_gone"


def test_a_public_endpoint_signs_urls_for_the_host_clients_reach(tmp_path, pg_settings, s3_store):
    panel = s3_panel(tmp_path, pg_settings, s3_store, storage_presign="true",
                     s3_public_endpoint_url="https://files.example.com")
    user = panel.user()
    job = panel.finish(panel.job(user).id)
    location = panel.client.get(f"/api/v1/jobs/{job.id}/result", headers=panel.auth(user)).headers["Location"]
    assert location.startswith(f"https://files.example.com/{s3_store.bucket}/{s3_store.prefix}/")


# --- storage-check and storage-migrate ---


def core_command(tmp_path, *args, **environ) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "APP_ENV": "test",
           "DATABASE_URL": f"sqlite:///{tmp_path}/nothing.db", **environ}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)


def test_storage_check_says_ok_for_a_working_bucket_and_leaves_nothing(tmp_path, s3_store):
    result = core_command(tmp_path, "storage-check", **s3_environment(s3_store))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"storage OK: bucket s3://{s3_store.bucket}/jobs")
    assert list(s3_store.list_keys()) == []
    assert not (tmp_path / "nothing.db").exists()  # the database is not needed


@pytest.mark.parametrize(("change", "cause"), [
    ({"STORAGE_URL": "s3://no-such-bucket-here/jobs"}, "bucket: NoSuchBucket"),
    ({"S3_ENDPOINT_URL": "http://127.0.0.1:9"}, "endpoint: cannot connect to http://127.0.0.1:9"),
])
def test_storage_check_names_what_is_wrong_in_one_line(tmp_path, s3_store, change, cause):
    result = core_command(tmp_path, "storage-check", **{**s3_environment(s3_store), **change})
    assert result.returncode == 1
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("storage FAILED (s3://")
    assert cause in result.stdout


def test_storage_check_of_a_directory_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = core_command(tmp_path, "storage-check", STORAGE_URL=str(blocker / "storage"))
    assert result.returncode == 1 and "storage FAILED" in result.stdout
    ok = core_command(tmp_path, "storage-check", STORAGE_URL=f"file://{tmp_path}/fine")
    assert ok.returncode == 0 and ok.stdout.startswith(f"storage OK: directory {tmp_path}/fine")


def test_explain_names_credentials_for_a_refused_key():
    from botocore.exceptions import ClientError, NoCredentialsError

    from core.s3 import explain

    refused = ClientError({"Error": {"Code": "InvalidAccessKeyId", "Message": "no"}}, "PutObject")
    assert explain(refused).startswith("credentials: InvalidAccessKeyId")
    assert explain(NoCredentialsError()).startswith("credentials: none found")
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")
    assert explain(denied).startswith("permissions: access denied")


def test_storage_migrate_copies_every_file_and_a_second_run_copies_nothing(tmp_path, s3_store):
    source = DirectoryStore(tmp_path / "old")
    keys = [input_key(f"{n:032x}") for n in range(5)] + [output_key(f"{n:032x}", "png") for n in range(3)]
    for n, key in enumerate(keys):
        source.put(key, os.urandom(1000 + n))
    s3_store.put(keys[0], source.get(keys[0]))  # copied by an earlier, interrupted run
    s3_store.put(keys[1], b"half")  # an object of the wrong size is copied again
    environ = {**s3_environment(s3_store), "STORAGE_DIR": str(tmp_path / "old")}

    first = core_command(tmp_path, "storage-migrate", "--from", str(tmp_path / "old"), **environ)
    assert first.returncode == 0, first.stderr
    assert "copied 7, already there 1, failed 0" in first.stdout
    assert {key: s3_store.get(key) for key in keys} == {key: source.get(key) for key in keys}
    again = core_command(tmp_path, "storage-migrate", **environ)  # --from STORAGE_DIR, --to STORAGE_URL
    assert again.returncode == 0 and "copied 0, already there 8, failed 0" in again.stdout


def test_storage_migrate_refuses_to_copy_a_store_onto_itself(tmp_path):
    result = core_command(tmp_path, "storage-migrate", "--from", "var/a", "--to", "var/a")
    assert result.returncode == 2 and "not the source" in result.stderr
