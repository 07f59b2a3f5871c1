"""The deployment's files and the services and secrets the deploy tests hold docker-compose.yml to."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_GPU = ROOT / "docker-compose.gpu.yml"
ENV_EXAMPLE = ROOT / ".env.example"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"

APP_SERVICES = {"admin_panel", "bot", "migrate", "purge", "worker"}
LONG_RUNNING = {"admin_panel", "bot", "database", "minio", "purge", "rabbitmq", "web-proxy", "worker"}
# `docker compose --profile monitoring`: started only when asked for, not counted in the host's sizing.
MONITORING = {"prometheus", "grafana"}
ALL_SERVICES = LONG_RUNNING | MONITORING | {"migrate", "storage-setup"}
# Values compose must be given; .env.example leaves them empty.
REQUIRED_SECRETS = ("POSTGRES_PASSWORD", "DATABASE_APP_PASSWORD", "RABBITMQ_DEFAULT_PASS", "JWT_SECRET",
                    "TELEGRAM_BOT_TOKEN", "MINIO_ROOT_PASSWORD", "AWS_SECRET_ACCESS_KEY")
