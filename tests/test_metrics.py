"""Metrics from every process: a worker's /metrics shows the stages of a job it did; the panel's
counters are summed over its gunicorn processes; Prometheus' and Grafana's files name metrics
that exist; METRICS_PORT answers only the token."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from core import accounts, jobs
from core.enums import JobStatus
from core.metrics import serve
from tests.support.images import encode, subject_image
from tests.support.panel import Panel
from tests.support.s3 import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "metrics-token-for-tests-0123"


def scrape(port: int, token: str | None = TOKEN, path: str = "/metrics") -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


# --- a worker ---


@pytest.fixture
def settings(pg_settings, amqp_names):
    return replace(pg_settings, **amqp_names)


def test_a_workers_metrics_show_each_stage_of_the_job_it_did(settings, rabbit_queue, storage, spawn):
    queue = rabbit_queue(settings)
    user, _ = accounts.register_telegram_user(4401, signup_bonus=3)
    port = free_port()
    worker = spawn(METRICS_PORT=str(port), METRICS_TOKEN=TOKEN, WORKER_THREADS="2")
    job = jobs.submit_job(user.id, encode(subject_image(), "JPEG"), {}, settings=settings, storage=storage,
                          queue=queue)
    deadline = time.monotonic() + 60
    while jobs.get_job(job.id).status != JobStatus.DONE:
        assert time.monotonic() < deadline and worker.process.poll() is None, worker.logs()
        time.sleep(0.1)
    wait_for_port(port)
    assert scrape(port, token=None)[0] == 401
    assert scrape(port, token="not-the-token")[0] == 401
    assert scrape(port, path="/other")[0] == 404
    status, text = scrape(port)
    assert status == 200
    found = samples(text)
    for name in ("download", "decode", "inference", "encode", "upload"):
        assert found[("cutout_worker_stage_seconds_count", (("stage", name),))] == 1, name
        assert found[("cutout_worker_stage_seconds_sum", (("stage", name),))] > 0, name
    assert found[("cutout_worker_jobs_total", (("outcome", "done"),))] == 1
    assert found[("cutout_worker_queue_wait_seconds_count", ())] == 1
    assert found[("cutout_worker_inference_threads", ())] >= 1
    assert found[("cutout_worker_jobs_in_hand", ())] == 0
    assert worker.stop() == 0


def test_metrics_port_is_off_by_default_and_refused_without_a_token_outside_development(sqlite_settings):
    assert serve(sqlite_settings) is None  # METRICS_PORT=0
    server = serve(replace(sqlite_settings, app_env="production", metrics_port=free_port(), metrics_token=""))
    try:
        status, body = scrape(server.server_address[1])
        assert status == 403 and "set METRICS_TOKEN" in body
    finally:
        server.shutdown()
        server.server_close()


# --- the panel under gunicorn ---


def children(pid: int) -> set[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return {int(child) for child in found}


def test_the_panels_counters_are_summed_over_its_gunicorn_processes(tmp_path):
    port = free_port()
    environ = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "APP_ENV": "test", "JWT_SECRET": "j" * 40,
               "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite", "STORAGE_DIR": str(tmp_path / "storage"),
               "PANEL_HOST": "127.0.0.1", "PANEL_PORT": str(port), "PANEL_WORKERS": "2", "METRICS_TOKEN": TOKEN}
    subprocess.run([sys.executable, "-m", "core", "migrate"], cwd=tmp_path, env=environ, check=True,
                   capture_output=True)
    with open(tmp_path / "panel.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "admin_panel"], cwd=tmp_path, env=environ, stdout=log,
                                  stderr=subprocess.STDOUT)
    key = ("cutout_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))
    try:
        wait_for_port(port)
        for _ in range(20):
            assert scrape(port, path="/healthz")[0] == 200
        # Every process that answered them is replaced: the counts must outlive the processes
        # and be summed by whichever new process answers the scrape.
        first = children(server.pid)
        assert len(first) == 2
        for pid in first:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while len(children(server.pid) - first) < 2:
            assert time.monotonic() < deadline, (tmp_path / "panel.log").read_text()[-2000:]
            time.sleep(0.1)
        answered = {}
        while len(answered) < 4 and time.monotonic() < deadline + 30:
            try:
                answered[len(answered)] = samples(scrape(port)[1])[key]
            except OSError:
                time.sleep(0.1)
        assert set(answered.values()) == {20.0}
        assert "Traceback" not in (tmp_path / "panel.log").read_text()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    assert not list(Path("/dev/shm").glob(f"cutout-panel-metrics-{server.pid}"))  # removed at exit


def test_request_metrics_count_routes_not_paths(sqlite_settings):
    panel = Panel.build(replace(sqlite_settings, metrics_token=TOKEN))
    user = panel.user()
    route = "/api/v1/jobs/<job_id>"
    key = {"route": route, "method": "GET", "status": "404"}
    before = REGISTRY.get_sample_value("cutout_http_requests_total", key) or 0
    for n in range(3):
        panel.client.get(f"/api/v1/jobs/{n:032x}", headers=panel.auth(user))
    assert REGISTRY.get_sample_value("cutout_http_requests_total", key) == before + 3
    text = panel.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    assert f'route="{route}"' in text and "/api/v1/jobs/0000" not in text


# --- Prometheus and Grafana ---


def exposed_names(sqlite_settings) -> set[str]:
    """Every sample name the processes can expose: the families defined in core.metrics (whether or
    not they have samples yet) and what the panel's /metrics shows after a job."""
    names = set()
    for family in REGISTRY.collect():
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
    panel = Panel.build(replace(sqlite_settings, metrics_token=TOKEN))
    panel.finish(panel.job(panel.user()).id)
    text = panel.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    return names | {name for name, _ in samples(text)}


def test_every_dashboard_query_names_a_metric_that_exists(sqlite_settings):
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/cutout.json").read_text())
    datasource = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    exposed = exposed_names(sqlite_settings)
    queries = [target for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(queries) >= 15 and dashboard["uid"] == "cutout"
    for target in queries:
        assert target["datasource"]["uid"] == uid
        named = set(re.findall(r"\bcutout_[a-z_]+\b", target["expr"]))
        assert named and named <= exposed, (target["expr"], named - exposed)
    covered = {name for target in queries for name in re.findall(r"\bcutout_[a-z_]+\b", target["expr"])}
    for stage_metric in ("cutout_worker_stage_seconds_bucket", "cutout_http_requests_total",
                         "cutout_bot_api_calls_total", "cutout_bot_delivery_seconds_bucket", "cutout_jobs"):
        assert stage_metric in covered


def test_prometheus_scrapes_every_process_with_the_token():
    config = yaml.safe_load((ROOT / "deploy/prometheus.yml").read_text())
    jobs_by_name = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs_by_name) == {"panel", "worker", "bot"}
    for job in jobs_by_name.values():
        assert job["authorization"]["credentials_file"] == "/prometheus/metrics_token"
    assert jobs_by_name["panel"]["static_configs"][0]["targets"] == ["admin_panel:8000"]
    assert jobs_by_name["worker"]["dns_sd_configs"][0] == {"names": ["worker"], "type": "A", "port": 9100,
                                                          "refresh_interval": "30s"}
    assert jobs_by_name["bot"]["static_configs"][0]["targets"] == ["bot:9100"]
