"""Processes that share no filesystem: the panel, two workers and the bot, each started in a
working directory of its own with its own var/, sharing only PostgreSQL, RabbitMQ and the S3
store (moto_server). Photos go end to end through the API and through the bot (a fake Bot API
over HTTP); every job ends done, every result is delivered, and nothing is written to a local
disk but the logs and the heartbeat files the healthchecks read."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from core import billing, jobs
from core.enums import JobStatus
from core.models import Job
from tests.support.bot_updates import Person
from tests.support.fake_bot_api import TOKEN
from tests.support.fake_bot_api_server import FakeBotApiServer
from tests.support.images import decode, encode, subject_image
from tests.support.multipart import multipart
from tests.support.s3 import free_port, s3_environment, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
PHOTOS_BY_API, PHOTOS_BY_BOT = 4, 2


class Host:
    """One process in a directory of its own, as if on a machine of its own."""

    def __init__(self, root: Path, name: str, module: str, environ: dict[str, str], files: dict[str, Path]):
        self.dir = root / name
        self.dir.mkdir()
        for target, source in files.items():  # what the host's image brings (the model)
            (self.dir / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, self.dir / target)
        self.log = self.dir / f"{name}.log"
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(self.dir), **environ,
               # Its own var/: the heartbeat files go to var/health, and no file may go anywhere else.
               "STORAGE_DIR": str(self.dir / "var" / "storage"), "MODEL_DIR": str(self.dir / "models")}
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", module], cwd=self.dir, env=env, stdout=out,
                                            stderr=subprocess.STDOUT)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def written(self) -> list[str]:
        """Every file the process left in its directory but its log, its heartbeats and its model."""
        files = (path.relative_to(self.dir).as_posix() for path in self.dir.rglob("*") if path.is_file())
        return sorted(name for name in files
                      if name != self.log.name and not name.startswith(("var/health/", "models/")))


def call(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def hosts(tmp_path, pg_settings, amqp_names, s3_store, tiny_model_path):
    """start(name, module, **settings) on the shared services; all stopped at the end, each with 0."""
    shared = {"APP_ENV": "test", "LOG_LEVEL": "INFO", "JWT_SECRET": "test-secret-" + "x" * 40,
              "DATABASE_URL": pg_settings.database_url, "AMQP_URL": pg_settings.amqp_url,
              "WORKER_THREADS": "1", "MAX_JOBS_IN_FLIGHT": "10",
              **{key.upper(): value for key, value in amqp_names.items()},
              **s3_environment(s3_store)}
    started: list[Host] = []

    def start(name: str, module: str, **settings: str) -> Host:
        environ = {**shared, **{key.upper(): str(value) for key, value in settings.items()}}
        files = {}
        if module == "worker":
            files["models/tiny.onnx"] = tiny_model_path
            environ["REMBG_MODEL_PATH"] = str(tmp_path / name / "models" / "tiny.onnx")
        host = Host(tmp_path, name, module, environ, files)
        started.append(host)
        return host

    yield start
    codes = {host.dir.name: host.stop() for host in started}
    assert set(codes.values()) == {0}, {name: (code, (tmp_path / name / f"{name}.log").read_text()[-2000:])
                                        for name, code in codes.items() if code}


def test_panel_two_workers_and_the_bot_share_only_the_database_the_broker_and_the_bucket(hosts, s3_store):
    port = free_port()
    with FakeBotApiServer() as api_server:
        api = api_server.api
        panel = hosts("panel", "admin_panel", panel_host="127.0.0.1", panel_port=port, panel_workers=1)
        workers = [hosts(name, "worker") for name in ("worker-1", "worker-2")]
        bot = hosts("bot", "bot", telegram_bot_token=TOKEN, telegram_api_base_url=api_server.base_url,
                    telegram_file_base_url=api_server.base_file_url)
        wait_for_port(port, 60)

        # Through the API: a registered account sends photos and reads each result back.
        account = {"email": "far@example.com", "password": "a long enough password"}
        assert call("POST", f"http://127.0.0.1:{port}/api/v1/auth/register", json.dumps(account).encode(),
                    {"Content-Type": "application/json"})[0] == 201
        _, token = call("POST", f"http://127.0.0.1:{port}/api/v1/auth/token", json.dumps(account).encode(),
                        {"Content-Type": "application/json"})
        auth = {"Authorization": f"Bearer {json.loads(token)['access_token']}"}
        _, me = call("GET", f"http://127.0.0.1:{port}/api/v1/me", headers=auth)
        billing.top_up(json.loads(me)["id"], 10, payment_id="far-away-top-up")
        submitted = []
        for n in range(PHOTOS_BY_API):
            body, content_type = multipart({}, encode(subject_image((64 + n, 48)), "JPEG"))
            status, answer = call("POST", f"http://127.0.0.1:{port}/api/v1/jobs", body,
                                  {**auth, "Content-Type": content_type})
            assert status == 202, answer
            submitted.append(json.loads(answer)["id"])

        # Through the bot: two people send a photo each.
        people = [Person(9300 + n) for n in range(PHOTOS_BY_BOT)]
        for person in people:
            api.push_update(person.text("/start"))
        api.wait_for("sendMessage", count=PHOTOS_BY_BOT, timeout=90)
        for person in people:
            api.push_update(person.photo(api.add_file(encode(subject_image(), "JPEG"))))
        documents = api.wait_for("sendDocument", count=PHOTOS_BY_BOT, timeout=180)

        for job_id in submitted:
            for _ in range(6):  # up to two minutes, twenty seconds a wait
                status, answer = call("GET", f"http://127.0.0.1:{port}/api/v1/jobs/{job_id}?wait=20", headers=auth)
                if json.loads(answer)["status"] == "done":
                    break
            assert status == 200 and json.loads(answer)["status"] == "done", answer
            status, image = call("GET", f"http://127.0.0.1:{port}/api/v1/jobs/{job_id}/result", headers=auth)
            assert status == 200 and decode(image).mode == "RGBA"
        assert sorted(call.params["chat_id"] for call in documents) == sorted(p.id for p in people)
        assert all(decode(call.files["document"][1]).mode == "RGBA" for call in documents)

    # Every job done once, by one of the two workers, its files in the bucket and nowhere else.
    done = list(Job.select())
    assert len(done) == PHOTOS_BY_API + PHOTOS_BY_BOT
    assert {job.status for job in done} == {JobStatus.DONE}
    assert all(job.delivered_at for job in done if job.chat_id)
    assert {job.worker.split(":")[1] for job in done} <= {str(w.process.pid) for w in workers}
    for job in done:
        assert s3_store.exists(job.input_key) and s3_store.exists(job.output_key)
        assert jobs.get_job(job.id).status == JobStatus.DONE
    for host in (panel, *workers, bot):
        assert host.written() == [], (host.dir.name, host.written())


def test_the_worker_writes_nothing_to_its_home_when_it_loads_onnxruntime(tmp_path):
    # onnxruntime's own default: a device id and a telemetry database under ~/.cache/Microsoft.
    environ = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-c", "import worker.engine"], env=environ, cwd=tmp_path, check=True,
                   timeout=60)
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []
