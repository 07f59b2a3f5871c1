"""docker-compose.yml through `docker-compose config` (Debian's, no engine) and dclint; sizing, GPU, .env.example."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import missing
from tests.support.deploy import COMPOSE, COMPOSE_GPU, ENV_EXAMPLE, LONG_RUNNING, REQUIRED_SECRETS, ROOT

COMPOSE_ONLY_MARKER = "# --- docker-compose only ---"
DCLINT = "dclint@3.1.0"
# A literal compose would interpolate ($$ is an escaped dollar, left to the container's shell).
READS_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


def require_tool(name: str, how: str) -> str:
    """The tool's path; skip without it, but fail under CI=true (as require_service does)."""
    path = shutil.which(name)
    if not path:
        missing(f"{name} is not installed ({how})")
    return path


def env_example(**values: str) -> str:
    """.env.example with the given keys set, as an operator's .env would be."""
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={values[key]}" if "=" in line and not line.startswith("#") and key in values else line)
    return "\n".join(lines) + "\n"


def dummy_secrets() -> dict[str, str]:
    return {"POSTGRES_PASSWORD": "pg-dummy", "DATABASE_APP_PASSWORD": "app-dummy", "RABBITMQ_DEFAULT_PASS": "mq-dummy",
            "JWT_SECRET": "j" * 48, "TELEGRAM_BOT_TOKEN": "123456:dummy-token", "MINIO_ROOT_PASSWORD": "minio-dummy",
            "AWS_SECRET_ACCESS_KEY": "s3-dummy-secret"}


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


def resolved(tmp_path: Path, *overrides: str, **env: str) -> dict:
    """The services as docker-compose resolves them from .env.example with dummy secrets."""
    result = compose_config(project_with_env(tmp_path, env_example(**dummy_secrets(), **env)), *overrides)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def env_keys(text: str) -> set[str]:
    return {line.split("=", 1)[0] for line in text.splitlines() if "=" in line and not line.startswith("#")}


# --- the Compose specification ---


def test_docker_compose_accepts_the_file_with_a_filled_in_env_example(tmp_path):
    project = project_with_env(tmp_path, env_example(**dummy_secrets()))
    result = compose_config(project)
    assert result.returncode == 0, result.stderr
    worker = yaml.safe_load(result.stdout)["services"]["worker"]
    environment = worker["environment"]
    # The worker connects as the application role, not as the owner.
    assert environment["DATABASE_URL"] == "postgresql://cutout_app:app-dummy@database:5432/cutout"
    assert environment["AMQP_URL"] == "amqp://cutout:mq-dummy@rabbitmq:5672/%2F"
    assert environment["APP_ENV"] == "production"
    # A setting of .env reaches the services that read it.
    assert environment["MAX_PIXELS"] == "40000000"
    assert environment["STUCK_JOB_SECONDS"] == "600"


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


# --- the worker's sizing and the GPU override, as resolved ---


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


# --- .env.example ---


def test_every_variable_the_file_reads_is_documented_in_env_example():
    text = ENV_EXAMPLE.read_text()
    documented = env_keys(text)
    read = set(READS_VARIABLE.findall(COMPOSE.read_text()))
    assert read <= documented
    # And the docker-compose block holds nothing stale; compose itself reads COMPOSE_PROJECT_NAME.
    assert env_keys(text.split(COMPOSE_ONLY_MARKER, 1)[1]) - {"COMPOSE_PROJECT_NAME"} <= read


# --- each service's own settings and secrets, as resolved ---

# Settings that no compose service reads: the one-process `make run`'s own, or written literally.
MAKE_RUN_ONLY = {"PANEL_HOST", "PANEL_PORT", "PANEL_WORKERS", "PANEL_PROXIES", "DATABASE_URL", "STORAGE_DIR",
                 "MODEL_DIR", "APP_ENV"}


def test_the_worker_holds_no_jwt_secret_and_no_bot_token(tmp_path):
    services = resolved(tmp_path)
    worker = services["worker"]
    # METRICS_TOKEN it holds: it guards the worker's own /metrics and reads metrics only.
    assert not {"JWT_SECRET", "TELEGRAM_BOT_TOKEN", "MINIO_ROOT_PASSWORD"} & set(worker["environment"])
    dumped = yaml.safe_dump(worker)
    for secret in ("j" * 48, "123456:dummy-token", "pg-dummy"):  # nor their values, anywhere
        assert secret not in dumped
    assert services["admin_panel"]["environment"]["JWT_SECRET"] == "j" * 48
    assert services["bot"]["environment"]["JWT_SECRET"] == "j" * 48  # it signs /apikey keys and /web links


def test_every_setting_reaches_a_service_that_reads_it(tmp_path):
    from core.settings import Settings

    services = resolved(tmp_path, PAYMENT_RECONCILE_SECONDS="300", METRICS_TOKEN="m" * 20)
    passed = {key for service in services.values() for key in (service.get("environment") or {})}
    every = {name.upper() for name in Settings.__dataclass_fields__}
    assert every - MAKE_RUN_ONLY <= passed, sorted(every - MAKE_RUN_ONLY - passed)
    assert services["bot"]["environment"]["PAYMENT_RECONCILE_SECONDS"] == "300"
    assert services["admin_panel"]["environment"]["METRICS_TOKEN"] == "m" * 20


def test_compose_config_wires_minio_in_and_mounts_no_shared_storage(tmp_path):
    services = resolved(tmp_path)
    assert services["minio"]["volumes"] and "storage-setup" in services["worker"]["depends_on"]
    for name in ("admin_panel", "bot", "purge", "worker"):
        environment = services[name]["environment"]
        assert environment["STORAGE_URL"] == "s3://cutout/jobs", name
        assert environment["S3_ENDPOINT_URL"] == "http://minio:9000", name
        assert environment["AWS_SECRET_ACCESS_KEY"] == "s3-dummy-secret", name
        assert "storage" not in yaml.safe_dump(services[name].get("volumes", [])), name
    assert services["storage-setup"]["environment"]["APP_SECRET"] == "s3-dummy-secret"
