"""The production deployment: docker-compose.yml against the Compose specification (Debian's
docker-compose, which needs no engine for `config`, and dclint), and what the file must hold:
every service, healthchecks, start order, volumes, settings from .env, no secret written inline;
nginx's upload limit; the Dockerfile's non-root user and baked model."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from core.settings import Settings
from tests.conftest import missing

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_GPU = ROOT / "docker-compose.gpu.yml"
ENV_EXAMPLE = ROOT / ".env.example"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
COMPOSE_ONLY_MARKER = "# --- docker-compose only ---"
DCLINT = "dclint@3.1.0"

APP_SERVICES = {"admin_panel", "bot", "migrate", "purge", "worker"}
LONG_RUNNING = {"admin_panel", "bot", "database", "purge", "rabbitmq", "web-proxy", "worker"}
ALL_SERVICES = LONG_RUNNING | {"migrate"}
# Values compose must be given; .env.example leaves them empty.
REQUIRED_SECRETS = ("POSTGRES_PASSWORD", "RABBITMQ_DEFAULT_PASS", "JWT_SECRET", "TELEGRAM_BOT_TOKEN")
SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY", re.IGNORECASE)
REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?])[^}]*)?\}")
# A literal compose would interpolate ($$ is an escaped dollar, left to the container's shell).
READS_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
MIB = 1024 * 1024


def require_tool(name: str, how: str) -> str:
    """The tool's path; skip without it, but fail under CI=true (as require_service does)."""
    path = shutil.which(name)
    if not path:
        missing(f"{name} is not installed ({how})")
    return path


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_example(**values: str) -> str:
    """.env.example with the given keys set, as an operator's .env would be."""
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={values[key]}" if "=" in line and not line.startswith("#") and key in values else line)
    return "\n".join(lines) + "\n"


def dummy_secrets() -> dict[str, str]:
    return {"POSTGRES_PASSWORD": "pg-dummy", "RABBITMQ_DEFAULT_PASS": "mq-dummy",
            "JWT_SECRET": "j" * 48, "TELEGRAM_BOT_TOKEN": "123456:dummy-token"}


def project_with_env(tmp_path: Path, env_text: str) -> Path:
    """A copy of what compose reads (the file, the build context's Dockerfile, deploy/) plus a .env."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(COMPOSE, project / "docker-compose.yml")
    shutil.copy(COMPOSE_GPU, project / "docker-compose.gpu.yml")
    shutil.copy(ROOT / "Dockerfile", project / "Dockerfile")
    shutil.copytree(ROOT / "deploy", project / "deploy")
    (project / ".env").write_text(env_text)
    return project


def compose_config(project: Path, *overrides: str) -> subprocess.CompletedProcess:
    """`docker-compose config` in the project (with override files); only PATH and HOME pass
    through, so no variable of this machine's environment can stand in for a missing .env entry."""
    binary = require_tool("docker-compose", "apt-get install -y docker-compose")
    files = [arg for name in ("docker-compose.yml", *overrides) for arg in ("-f", str(project / name))]
    return subprocess.run(
        [binary, *files, "-p", "cutout", "config"],
        cwd=project, capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")},
    )


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


def env_keys(text: str) -> set[str]:
    return {line.split("=", 1)[0] for line in text.splitlines() if "=" in line and not line.startswith("#")}


# --- the Compose specification ---


def test_docker_compose_accepts_the_file_with_a_filled_in_env_example(tmp_path):
    project = project_with_env(tmp_path, env_example(**dummy_secrets()))
    result = compose_config(project)
    assert result.returncode == 0, result.stderr
    worker = yaml.safe_load(result.stdout)["services"]["worker"]
    environment = worker["environment"]
    assert environment["DATABASE_URL"] == "postgresql://cutout:pg-dummy@database:5432/cutout"
    assert environment["AMQP_URL"] == "amqp://cutout:mq-dummy@rabbitmq:5672/%2F"
    assert environment["APP_ENV"] == "production"
    # Settings that only .env holds reach the container through env_file.
    assert environment["PRICE_PER_IMAGE"] == "1"
    assert environment["CREDIT_PACKAGES"] == "10:50,50:200,200:600"


@pytest.mark.parametrize("secret", REQUIRED_SECRETS)
def test_docker_compose_refuses_to_start_while_a_required_secret_is_empty(tmp_path, secret):
    values = dummy_secrets()
    values[secret] = ""
    result = compose_config(project_with_env(tmp_path, env_example(**values)))
    assert result.returncode != 0
    assert f"set {secret} in .env" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("compose_file", [COMPOSE, COMPOSE_GPU], ids=["main", "gpu"])
def test_dclint_finds_no_problem(tmp_path, compose_file):
    npx = require_tool("npx", "install nodejs and npm")
    result = subprocess.run(
        [npx, "--yes", DCLINT, "--max-warnings", "0", "--color", "false", str(compose_file)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- what the file holds ---


def test_the_file_has_no_obsolete_version_key(compose):
    assert "version" not in compose


def test_every_service_of_the_deployment_is_defined(services):
    assert set(services) == ALL_SERVICES


def test_services_run_the_right_commands(services):
    assert services["migrate"]["command"] == ["python", "-m", "core", "migrate"]
    assert services["bot"]["command"] == ["python", "-m", "bot"]
    assert services["worker"]["command"] == ["python", "-m", "worker"]
    panel = services["admin_panel"]["command"]
    assert panel[0] == "gunicorn" and panel[-1] == "admin_panel:create_app()"
    assert "--bind=0.0.0.0:8000" in panel
    assert "python -m core purge" in services["purge"]["command"][-1]
    assert services["database"]["image"] == "postgres:16-alpine"
    assert services["rabbitmq"]["image"] == "rabbitmq:3-management"
    assert services["web-proxy"]["image"].startswith("nginx:") and "alpine" in services["web-proxy"]["image"]


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
             "migrate": "service_completed_successfully"}
    for name in APP_SERVICES - {"migrate"}:
        conditions = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        assert conditions == ready, name
    assert services["migrate"]["depends_on"] == {"database": {"condition": "service_healthy"}}
    assert services["web-proxy"]["depends_on"] == {"admin_panel": {"condition": "service_healthy"}}


def resolved(tmp_path: Path, *overrides: str, **env: str) -> dict:
    """The services as docker-compose resolves them from .env.example with dummy secrets."""
    result = compose_config(project_with_env(tmp_path, env_example(**dummy_secrets(), **env)), *overrides)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def test_the_four_listeners_run_in_one_worker_process_sharing_one_model(tmp_path):
    worker = resolved(tmp_path)["worker"]
    assert worker["deploy"]["replicas"] == 1
    assert worker["environment"]["WORKER_THREADS"] == "4"


def test_the_stack_is_sized_for_a_4_core_8_gb_host(tmp_path):
    services = resolved(tmp_path)
    worker = services["worker"]
    # Three cores for inference (the worker's onnxruntime threads follow the quota), one for the rest.
    assert float(worker["cpus"]) == 3.0
    assert worker["mem_limit"] == "3g"
    limits = {name: services[name].get("mem_limit") for name in LONG_RUNNING}
    assert all(limits.values()), limits
    gib = {"g": 1024, "m": 1}
    assert sum(int(limit[:-1]) * gib[limit[-1]] for limit in limits.values()) <= 8 * 1024
    # The README's sizing section states the same limits.
    readme = (ROOT / "README.md").read_text()
    sizing = readme.split("### Sizing a host", 1)[1].split("\n## ", 1)[0]
    assert "`WORKER_CPUS` (3)" in sizing and "`WORKER_MEMORY` (3g)" in sizing


def test_the_worker_limits_come_from_dotenv(tmp_path):
    worker = resolved(tmp_path, WORKER_CPUS="2", WORKER_MEMORY="2500m", WORKER_THREADS="2")["worker"]
    assert float(worker["cpus"]) == 2.0 and worker["mem_limit"] == "2500m"
    assert worker["environment"]["WORKER_THREADS"] == "2"


def test_the_gpu_override_builds_onnxruntime_gpu_and_reserves_an_nvidia_gpu(tmp_path):
    worker = resolved(tmp_path, "docker-compose.gpu.yml")["worker"]
    assert worker["build"]["args"] == {"ONNXRUNTIME": "gpu"}
    assert worker["environment"]["ONNX_PROVIDERS"] == "CUDAExecutionProvider,CPUExecutionProvider"
    assert worker["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert worker["environment"]["DATABASE_URL"].startswith("postgresql://")  # the rest is unchanged


def test_the_gpu_image_swaps_onnxruntime_for_onnxruntime_gpu():
    steps = _instructions((ROOT / "Dockerfile").read_text())
    assert ("ARG", "ONNXRUNTIME=cpu") in steps
    install = next(args for word, args in steps if word == "RUN" and "requirements-gpu.txt" in args)
    assert 'if [ "$ONNXRUNTIME" = gpu ]' in install and "pip uninstall --yes onnxruntime" in install
    pins = [line for line in (ROOT / "requirements-gpu.txt").read_text().splitlines() if line and line[0] != "#"]
    assert pins == ["onnxruntime-gpu[cuda,cudnn]==1.31.1"]


def test_named_volumes_keep_the_database_the_files_and_the_model(compose, services):
    assert {"database-data", "rabbitmq-data", "storage", "models"} <= set(compose["volumes"])
    assert "database-data:/var/lib/postgresql/data" in services["database"]["volumes"]
    for name in ("admin_panel", "bot", "purge", "worker"):
        assert "storage:/app/var/storage" in services[name]["volumes"], name
    assert "models:/app/models" in services["worker"]["volumes"]


def test_app_services_take_their_settings_from_dotenv(services):
    for name in APP_SERVICES:
        assert services[name]["env_file"] in (".env", [".env"]), name
        environment = services[name]["environment"]
        assert environment["STORAGE_DIR"] == "/app/var/storage" and environment["MODEL_DIR"] == "/app/models"
    # The third-party images get only what they need, not the app's secrets.
    for name in ("database", "rabbitmq", "web-proxy"):
        assert "env_file" not in services[name], name


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


def test_every_variable_the_file_reads_is_documented_in_env_example():
    text = ENV_EXAMPLE.read_text()
    documented = env_keys(text)
    read = set(READS_VARIABLE.findall(COMPOSE.read_text()))
    assert read <= documented
    # And the docker-compose block holds nothing stale; compose itself reads COMPOSE_PROJECT_NAME.
    assert env_keys(text.split(COMPOSE_ONLY_MARKER, 1)[1]) - {"COMPOSE_PROJECT_NAME"} <= read


def test_only_the_web_proxy_publishes_a_port(services):
    assert {name for name, service in services.items() if service.get("ports")} == {"web-proxy"}
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in services["web-proxy"]["volumes"]


# --- nginx, the image ---


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", size).groups()
    return int(number) * {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB}[unit.lower()]


def test_nginx_accepts_the_largest_upload_plus_its_multipart_envelope():
    conf = NGINX_CONF.read_text()
    sizes = re.findall(r"^\s*client_max_body_size\s+(\S+);", conf, re.MULTILINE)
    assert len(sizes) == 1
    limit, largest = _bytes(sizes[0]), Settings().max_upload_bytes
    assert largest < limit <= largest + 2 * MIB


def test_nginx_passes_the_client_to_the_panel():
    conf = NGINX_CONF.read_text()
    assert "proxy_pass http://admin_panel:8000;" in conf
    for header in ("Host $host", "X-Forwarded-For $proxy_add_x_forwarded_for", "X-Forwarded-Proto $scheme"):
        assert f"proxy_set_header {header};" in conf


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), " ".join(rest.split())))
    return pairs


def test_the_image_runs_as_a_non_root_user_with_the_model_baked_in():
    steps = _instructions((ROOT / "Dockerfile").read_text())
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM"):]
    assert final[0][1].startswith("python:3.11-slim")
    users = [args for word, args in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    runs = [args for word, args in final if word == "RUN"]
    assert any("python -m worker.model_fetch" in run for run in runs)
    envs = " ".join(args for word, args in final if word == "ENV")
    assert "MODEL_DIR=/app/models" in envs
    # Without it, rembg's import (pymatting's cached numba functions) fails for a non-root user.
    assert "NUMBA_CACHE_DIR=" in envs
    installs = [args for word, args in steps if word == "RUN" and "pip install" in args]
    assert installs and all("requirements.txt" in args and "requirements-dev" not in args for args in installs)
    copied = " ".join(args for word, args in final if word == "COPY")
    for package in ("core/", "worker/", "bot/", "admin_panel/"):
        assert package in copied


def test_dockerignore_keeps_local_state_and_weights_out_of_the_build():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "var", ".git", ".env", "*.onnx", "node_modules", ".pytest_cache", ".hypothesis"} <= ignored
