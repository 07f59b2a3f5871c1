"""The configurations bench.latency runs over HTTP: `make run` and docker-compose's worker and panel."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from bench.client import api
from bench.services import create_database, drop_database, free_port, total_cpu, with_children

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_ONLY_MARKER = "# --- docker-compose only ---"
PASSWORD = "benchmark-password-1"
AT_ONCE = 8


class Service:
    """A configuration under test: its processes, its port, and users with credits and tokens."""

    name = ""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"cutout-latency-{self.name}-"))
        self.port = free_port()
        self.processes: dict[str, subprocess.Popen] = {}
        self.tokens: list[str] = []

    def spawn(self, label: str, command: list[str], environ: dict[str, str], cwd: Path = ROOT) -> None:
        log = (self.workdir / f"{label}.log").open("w")
        self.processes[label] = subprocess.Popen(command, cwd=cwd, env=environ, stdout=log, stderr=subprocess.STDOUT)

    def wait_until_up(self, deadline_seconds: float = 180) -> None:
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            for label, process in self.processes.items():
                if process.poll() is not None:
                    raise SystemExit(f"{self.name}: {label} exited; see {self.workdir / (label + '.log')}")
            try:
                if api(self.port, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{self.name} did not come up; see {self.workdir}")

    def make_users(self, database_url: str, count: int) -> None:
        """Users with credits, made through core on the service's database; tokens through the API."""
        from core import accounts
        from core.db import connect_database, db
        from core.settings import load_settings

        connect_database(load_settings({"DATABASE_URL": database_url}, env_file=None))
        emails = [f"bench-{uuid.uuid4().hex[:8]}@example.com" for _ in range(count)]
        for email in emails:
            accounts.register_email_user(email, PASSWORD, signup_bonus=10_000)
        db.close()
        if getattr(db.obj, "close_all", None):
            db.obj.close_all()
        for email in emails:
            status, body, _ = api(self.port, "POST", "/api/v1/auth/token", body=json.dumps(
                {"email": email, "password": PASSWORD}).encode(), content_type="application/json")
            if status != 200:
                raise SystemExit(f"{self.name}: sign-in answered {status}: {body[:200]!r}")
            self.tokens.append(json.loads(body)["access_token"])

    def pids(self) -> dict[str, list[int]]:
        """Each process of the service and its children (gunicorn's workers)."""
        return {label: with_children(process.pid) for label, process in self.processes.items()}

    def cpu(self) -> float:
        """CPU seconds all of the service's processes have used so far."""
        return sum(total_cpu(pids) for pids in self.pids().values())

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def clean_environment() -> dict[str, str]:
    """This process's environment without any Cutout setting, so only the defaults apply."""
    from core.settings import Settings

    names = {name.upper() for name in Settings.__dataclass_fields__}
    return {key: value for key, value in os.environ.items() if key not in names}


class MakeRun(Service):
    """`make run`: run.py with no .env and no setting but the port, in an empty directory whose
    var/models is the repository's (where `make model` put the weights)."""

    name = "M"

    def __init__(self) -> None:
        super().__init__()
        (self.workdir / "var").mkdir()
        (self.workdir / "var" / "models").symlink_to(ROOT / "var" / "models")
        environ = {**clean_environment(), "PANEL_PORT": str(self.port), "PUBLIC_URL": f"http://127.0.0.1:{self.port}"}
        self.spawn("run.py", [sys.executable, str(ROOT / "run.py")], environ, cwd=self.workdir)
        self.wait_until_up()
        self.make_users(f"sqlite:///{self.workdir}/var/cutout.db", AT_ONCE)


def env_example() -> dict[str, str]:
    """The app settings of .env.example that hold a value (what an operator's .env starts as)."""
    text = (ROOT / ".env.example").read_text()
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#") and value:
            values[key] = value
    return values


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?message} against .env's values."""
    def one(match: re.Match) -> str:
        name, form, default = match.group(1), match.group(2) or "", match.group(3) or ""
        return variables.get(name) or (default if form.endswith("-") else "")
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}", one, str(value))


def make_bucket(environment: dict[str, str], bucket: str, seconds: float = 30) -> None:
    """Create the bucket (as compose's storage-setup job does), once the server answers."""
    import boto3

    client = boto3.client("s3", endpoint_url=environment["S3_ENDPOINT_URL"],
                          aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
                          region_name=environment["AWS_DEFAULT_REGION"])
    deadline = time.monotonic() + seconds
    while True:
        try:
            client.create_bucket(Bucket=bucket)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def compose_service(name: str) -> tuple[dict[str, str], dict]:
    """A service of docker-compose.yml: its environment as the container would see it (.env from
    .env.example, then `environment:`), and the service itself."""
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][name]
    variables = env_example()
    environment = dict(env_example())
    environment.update({key: interpolate(value, variables) for key, value in service["environment"].items()})
    return environment, {key: interpolate(value, variables) if isinstance(value, str) else value
                         for key, value in service.items()}


class Compose(Service):
    """docker-compose's worker and panel, on a database, queue names and bucket of this run's own.
    Compose keeps the files in MinIO; moto's S3 server (`moto_server`, from the dev requirements)
    stands in for it here, on a loopback port, as no MinIO image can run on this machine."""

    name = "C"

    def __init__(self, database_url: str, amqp_url: str, model_path: Path, storage: str = "s3") -> None:
        super().__init__()
        suffix = uuid.uuid4().hex[:10]
        self.admin_url, self.db_name = database_url, f"cutout_latency_{suffix}"
        self.database_url = create_database(database_url, self.db_name)
        shared = {
            "DATABASE_URL": self.database_url, "AMQP_URL": amqp_url, "JWT_SECRET": secrets.token_urlsafe(48),
            "INPUT_QUEUE": f"latency_input_{suffix}", "RESULT_QUEUE": f"latency_result_{suffix}",
            "DEAD_LETTER_QUEUE": f"latency_dead_{suffix}", "MODEL_DIR": str(model_path.parent),
            "REMBG_MODEL_PATH": str(model_path),
        }
        if storage == "s3":  # what compose ships (MinIO), moto standing in
            s3_port, bucket = free_port(), f"cutout-latency-{suffix}"
            self.spawn("moto_server", [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1",
                                       "-p", str(s3_port)], clean_environment())
            shared.update({"STORAGE_URL": f"s3://{bucket}/jobs", "S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
                           "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret",
                           "AWS_DEFAULT_REGION": "us-east-1"})
            make_bucket(shared, bucket)
        else:  # compose before its MinIO: a shared directory
            shared["STORAGE_URL"] = str(self.workdir / "storage")
        worker_env, worker = compose_service("worker")
        panel_env, _ = compose_service("admin_panel")
        self.cpus, self.worker_threads = float(worker.get("cpus") or 0), worker_env["WORKER_THREADS"]
        self.mem_limit = worker.get("mem_limit", "")
        base = clean_environment()
        subprocess.run([sys.executable, "-m", "core", "migrate"], cwd=ROOT, check=True, capture_output=True,
                       env={**base, **panel_env, **shared})
        self.spawn("worker", self._cpu_limited([sys.executable, "-m", "worker"]),
                   {**base, **worker_env, **shared})
        self.spawn("admin_panel", [sys.executable, "-m", "admin_panel"],
                   {**base, **panel_env, **shared, "PANEL_HOST": "127.0.0.1", "PANEL_PORT": str(self.port)})
        self.wait_until_up()
        self.make_users(self.database_url, AT_ONCE)
        self.shared = shared

    def _cpu_limited(self, command: list[str]) -> list[str]:
        """compose's `cpus:` as an affinity when it is below this machine's cores (a CFS quota would
        need a cgroup of our own); at or above them, the worker has every core, as in its container."""
        cores = len(os.sched_getaffinity(0))
        if not self.cpus or self.cpus >= cores:
            return command
        allowed = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0))[: max(1, int(self.cpus + 0.999))])
        return ["taskset", "-c", allowed, *command]

    def stop(self) -> None:
        super().stop()
        from core.settings import load_settings
        from tests.support.queues import delete_topology

        delete_topology(load_settings({**self.shared, "APP_ENV": "test"}, env_file=None))
        drop_database(self.admin_url, self.db_name)
