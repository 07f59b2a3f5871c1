"""What docker-compose.yml holds: every service, its command, healthcheck, start order, volumes, settings, secrets."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.support.deploy import ALL_SERVICES, APP_SERVICES, COMPOSE, LONG_RUNNING, MONITORING, REQUIRED_SECRETS

SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY", re.IGNORECASE)
REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?])[^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def inline_secrets(compose_data: dict) -> list[str]:
    """Where a service's environment writes a secret as a literal instead of a ${VAR} reference."""
    found = []
    for name, service in compose_data["services"].items():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) if "=" in item else (item, None) for item in environment)
        for key, value in environment.items():
            literal = REFERENCE.sub("", str(value or ""))
            if SECRET_NAME.search(key) and literal:
                found.append(f"{name}.{key}")
            elif re.search(r"://[^/@\s]*:[^/@\s]+@", literal):  # user:password@ left after removing references
                found.append(f"{name}.{key} (URL with a password)")
    return found


def test_the_file_has_no_obsolete_version_key(compose):
    assert "version" not in compose


def test_every_service_of_the_deployment_is_defined(services):
    assert set(services) == ALL_SERVICES


def test_services_run_the_right_commands(services):
    # Migrations, then the first admin, before the panel (which waits for this) takes registrations.
    assert services["migrate"]["command"] == ["sh", "-c", "python -m core migrate && python -m core ensure-admin"]
    assert services["bot"]["command"] == ["python", "-m", "bot"]
    assert services["worker"]["command"] == ["python", "-m", "worker"]
    panel = services["admin_panel"]["command"]
    assert panel[0] == "gunicorn" and panel[-1] == "admin_panel:create_app()"
    assert "--bind=0.0.0.0:8000" in panel
    assert "python -m core purge" in services["purge"]["command"][-1]
    assert services["database"]["image"] == "postgres:16-alpine"
    assert services["rabbitmq"]["image"] == "rabbitmq:3-management"
    assert services["web-proxy"]["image"].startswith("nginx:") and "alpine" in services["web-proxy"]["image"]


# --- healthchecks and start order ---


def test_every_long_running_service_has_a_healthcheck_and_a_restart_policy(services):
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), name
        assert services[name].get("restart") == "unless-stopped", name
    assert services["migrate"]["restart"] == "no"


@pytest.mark.parametrize("name", ["worker", "bot"])
def test_worker_and_bot_are_checked_through_their_heartbeat_files(services, name):
    assert services[name]["healthcheck"]["test"] == [
        "CMD", "python", "-m", "core", "healthcheck", "--heartbeat", f"/app/var/health/{name}", "--max-age", "120"]


def test_database_and_broker_have_their_own_healthchecks(services):
    assert "pg_isready" in " ".join(services["database"]["healthcheck"]["test"])
    assert services["rabbitmq"]["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_the_panel_healthcheck_fails_on_a_503(services, status, healthy):
    test = services["admin_panel"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"] and "curl" not in " ".join(test)
    handler = type("Health", (_Health,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code = test[3].replace("127.0.0.1:8000", f"127.0.0.1:{server.server_port}")
        assert "/healthz" in code
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.returncode == 0) is healthy


def _shell(command: str, tmp_path: Path) -> str:
    """A compose shell string as the container runs it: $$ unescaped, paths moved under tmp_path."""
    return command.replace("$$", "$").replace("/app/var/health/", f"{tmp_path}/")


@pytest.mark.parametrize(("age_hours", "healthy"), [(1, True), (26, False), (None, False)])
def test_the_purge_healthcheck_wants_a_successful_run_within_a_day(services, tmp_path, age_hours, healthy):
    kind, command = services["purge"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    if age_hours is not None:
        marker = tmp_path / "purge"
        marker.touch()
        stamp = time.time() - age_hours * 3600
        os.utime(marker, (stamp, stamp))
    result = subprocess.run(["sh", "-c", _shell(command, tmp_path)], capture_output=True, timeout=30)
    assert (result.returncode == 0) is healthy


def test_the_purge_loop_purges_at_once_and_stops_on_sigterm(services, tmp_path):
    program, flag, script = services["purge"]["command"]
    assert (program, flag) == ("sh", "-c")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake_python = bin_dir / "python"
    fake_python.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    fake_python.chmod(0o755)
    loop = subprocess.Popen(["sh", "-c", _shell(script, tmp_path)], start_new_session=True,
                            env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "purge").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert calls.read_text() == "-m core purge\n"
        assert (tmp_path / "purge").exists()  # the healthcheck's marker
        loop.send_signal(signal.SIGTERM)
        assert loop.wait(timeout=10) == 0  # not held for a day by the sleep
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(loop.pid, signal.SIGKILL)  # the orphaned sleep (the container's end takes it)
        loop.wait()


def test_services_start_after_healthy_dependencies_and_finished_migrations(services):
    ready = {"database": "service_healthy", "rabbitmq": "service_healthy",
             "migrate": "service_completed_successfully", "storage-setup": "service_completed_successfully"}
    for name in APP_SERVICES - {"migrate"}:
        conditions = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        assert conditions == ready, name
    assert services["migrate"]["depends_on"] == {"database": {"condition": "service_healthy"}}
    assert services["web-proxy"]["depends_on"] == {"admin_panel": {"condition": "service_healthy"}}
    assert services["storage-setup"]["depends_on"] == {"minio": {"condition": "service_healthy"}}
    assert services["minio"]["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]


# --- volumes, settings, secrets, ports ---


def test_named_volumes_keep_the_database_the_objects_and_the_model(compose, services):
    assert set(compose["volumes"]) == {"database-data", "rabbitmq-data", "object-data", "models",
                                       "prometheus-data", "grafana-data"}
    assert services["database"]["volumes"] == ["database-data:/var/lib/postgresql/data"]
    assert services["minio"]["volumes"] == ["object-data:/data"]
    assert services["worker"]["volumes"] == ["models:/app/models"]


def test_no_service_shares_a_filesystem_the_files_are_in_the_bucket(services):
    for name in APP_SERVICES - {"worker"}:
        assert not services[name].get("volumes"), name
    for name in APP_SERVICES - {"migrate"}:
        environment = services[name]["environment"]
        assert environment["STORAGE_URL"] == "${STORAGE_URL:-s3://cutout/jobs}", name
        assert environment["S3_ENDPOINT_URL"] == "${S3_ENDPOINT_URL:-http://minio:9000}", name
        assert environment["AWS_SECRET_ACCESS_KEY"].startswith("${AWS_SECRET_ACCESS_KEY:?"), name


def test_storage_setup_makes_the_bucket_and_a_key_for_that_bucket_only(services):
    script = services["storage-setup"]["command"][0]
    assert 'mc mb --ignore-existing "store/$$BUCKET"' in script
    assert "arn:aws:s3:::%s/*" in script and "s3:PutObject" in script and "s3:*" not in script
    assert 'mc admin user add store "$$APP_KEY" "$$APP_SECRET"' in script
    assert services["storage-setup"]["environment"]["APP_KEY"] == "${AWS_ACCESS_KEY_ID:-cutout-app}"
    assert "MINIO_ROOT_PASSWORD" not in services["worker"]["environment"]


# Who may hold what: a worker parses untrusted images, so it holds no key to anything else.
# METRICS_TOKEN is the exception: it protects the worker's own /metrics and reads metrics only.
NOT_FOR = {
    "worker": {"JWT_SECRET", "TELEGRAM_BOT_TOKEN", "ADMIN_PASSWORD", "DATABASE_APP_PASSWORD",
               "POSTGRES_PASSWORD", "TELEGRAM_WEBHOOK_SECRET", "MINIO_ROOT_PASSWORD"},
    "purge": {"JWT_SECRET", "TELEGRAM_BOT_TOKEN", "METRICS_TOKEN", "ADMIN_PASSWORD", "DATABASE_APP_PASSWORD",
              "AMQP_URL"},
    "bot": {"ADMIN_PASSWORD", "DATABASE_APP_PASSWORD"},
    "admin_panel": {"ADMIN_PASSWORD", "DATABASE_APP_PASSWORD", "TELEGRAM_WEBHOOK_SECRET"},
    "migrate": {"JWT_SECRET", "TELEGRAM_BOT_TOKEN", "METRICS_TOKEN", "AMQP_URL", "AWS_SECRET_ACCESS_KEY"},
}


def test_no_service_gets_the_whole_dotenv_only_the_settings_it_reads(services):
    for name in APP_SERVICES:
        assert "env_file" not in services[name], name
        environment = services[name]["environment"]
        assert environment["MODEL_DIR"] == "/app/models"
        assert not NOT_FOR[name] & set(environment), (name, NOT_FOR[name] & set(environment))
    for name in ("database", "rabbitmq", "web-proxy"):
        assert "env_file" not in services[name], name


def test_only_migrate_connects_as_the_databases_owner(services):
    for name in APP_SERVICES:
        url = services[name]["environment"]["DATABASE_URL"]
        owner = url.startswith("postgresql://${POSTGRES_USER")
        assert owner is (name == "migrate"), (name, url)
    assert services["migrate"]["environment"]["DATABASE_APP_ROLE"] == "${DATABASE_APP_ROLE:-cutout_app}"


def test_no_secret_is_written_inline(compose):
    assert inline_secrets(compose) == []
    text = COMPOSE.read_text()
    for secret in REQUIRED_SECRETS:
        uses = re.findall(rf"\$\{{{secret}([^}}]*)\}}", text)
        assert uses and all(use.startswith(":?") for use in uses), secret


def test_the_secret_scan_catches_literals():
    doctored = {"services": {
        "a": {"environment": {"JWT_SECRET": "hunter2", "SAFE": "${JWT_SECRET:?x}"}},
        "b": {"environment": ["RABBITMQ_DEFAULT_PASS=guest"]},
        "c": {"environment": {"DATABASE_URL": "postgresql://cutout:hunter2@database:5432/cutout"}},
        "d": {"environment": {"DATABASE_URL": "postgresql://${U}:${P:?x}@database:5432/cutout", "TOKEN": "${T}"}},
    }}
    assert inline_secrets(doctored) == [
        "a.JWT_SECRET", "b.RABBITMQ_DEFAULT_PASS", "c.DATABASE_URL (URL with a password)"]


def test_only_the_web_proxy_publishes_a_port_and_grafana_on_the_loopback(services):
    assert {name for name, service in services.items() if service.get("ports")} == {"web-proxy", "grafana"}
    assert services["grafana"]["ports"] == ["127.0.0.1:${GRAFANA_PORT:-3000}:3000"]
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in services["web-proxy"]["volumes"]


def test_the_worker_and_the_bot_serve_metrics_on_the_internal_network(services):
    for name in ("worker", "bot"):
        environment = services[name]["environment"]
        assert environment["METRICS_PORT"] == 9100 and environment["METRICS_HOST"] == "0.0.0.0", name
        assert environment["METRICS_TOKEN"] == "${METRICS_TOKEN:-}" and not services[name].get("ports"), name
    assert "--config=python:admin_panel.gunicorn_config" in services["admin_panel"]["command"]


def test_the_monitoring_profile_starts_prometheus_and_grafana_only_when_asked(services):
    for name in MONITORING:
        assert services[name]["profiles"] == ["monitoring"], name
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in services["prometheus"]["volumes"]
    assert 'printf %s "$$METRICS_TOKEN" > /prometheus/metrics_token' in services["prometheus"]["command"][0]
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro" in services["grafana"]["volumes"]
    assert 'test -n "$$GF_SECURITY_ADMIN_PASSWORD"' in services["grafana"]["command"][0]
