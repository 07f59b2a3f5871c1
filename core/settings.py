"""Configuration: one frozen object built from the environment (and `.env`) at start."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from core.cpus import usable_cores
from core.errors import SettingsError

DEFAULT_SQLITE_URL = "sqlite:///var/cutout.db"


@dataclass(frozen=True)
class Settings:
    """Every setting of every process; see `.env.example` for what each one does."""

    app_env: str = "development"
    database_url: str = DEFAULT_SQLITE_URL
    db_pool_size: int = 10
    db_connect_timeout_seconds: int = 3
    db_pool_timeout_seconds: int = 5
    database_app_role: str = ""
    database_app_password: str = ""
    price_per_image: int = 1
    price_per_render: int = 0
    max_renders_per_job: int = 10
    max_renders_per_minute: int = 20
    sticker_set_prefix: str = "cutout"
    sync_timeout_seconds: int = 60
    price_preview: int = 0
    free_previews_per_day: int = 50
    allow_image_urls: bool = False
    signup_bonus_credits: int = 3
    signup_bonus_per_address_per_day: int = 3
    storage_dir: str = "var/storage"
    storage_url: str = ""
    storage_presign: bool = False
    storage_presign_seconds: int = 300
    s3_endpoint_url: str = ""
    s3_public_endpoint_url: str = ""
    aws_access_key_id: str = ""
    aws_secret_access_key: str = ""
    aws_default_region: str = ""
    amqp_url: str = ""
    input_queue: str = "input_queue"
    result_queue: str = "result_queue"
    dead_letter_queue: str = "dead_letter_queue"
    amqp_heartbeat: int = 60
    worker_threads: int = field(default_factory=usable_cores)
    max_attempts: int = 3
    retry_backoff_seconds: float = 2.0
    stuck_job_seconds: int = 600
    job_lease_seconds: int = 60
    delivery_max_attempts: int = 10
    delivery_max_age_seconds: int = 86400
    sweep_interval_seconds: int = 60
    rembg_model: str = "isnet-general-use"
    rembg_model_path: str = ""
    model_dir: str = "var/models"
    onnx_providers: str = "CPUExecutionProvider"
    max_upload_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_jobs_in_flight: int = 3
    purge_older_than_days: int = 30
    telegram_bot_token: str = ""
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = ""
    telegram_webhook_listen: str = "0.0.0.0"
    telegram_webhook_port: int = 8443
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_file_base_url: str = "https://api.telegram.org/file/bot"
    credit_packages: str = "10:50,50:200,200:600"
    payment_reconcile_seconds: int = 600
    panel_host: str = "127.0.0.1"
    panel_port: int = 8000
    panel_workers: int = 2
    panel_proxies: int = 0
    public_url: str = "http://127.0.0.1:8000"
    jwt_secret: str = ""
    jwt_ttl_seconds: int = 3600
    api_token_ttl_days: int = 365
    admin_email: str = ""
    admin_password: str = ""
    metrics_token: str = ""
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    log_level: str = "INFO"
    log_format: str = "text"


# Values that must be one of a fixed set.
_CHOICES = {
    "app_env": {"development", "production", "test"},
    "log_format": {"text", "json"},
    "log_level": {"DEBUG", "INFO", "WARNING", "ERROR"},
}
# Integers that must be at least this much.
_MINIMUM = {
    "price_per_image": 1,
    "price_per_render": 0,
    "max_renders_per_job": 0,
    "max_renders_per_minute": 1,
    "sync_timeout_seconds": 1,
    "price_preview": 0,
    "free_previews_per_day": 0,
    "signup_bonus_credits": 0,
    "signup_bonus_per_address_per_day": 0,
    "db_pool_size": 1,
    "db_connect_timeout_seconds": 1,
    "db_pool_timeout_seconds": 1,
    "worker_threads": 1,
    "max_attempts": 1,
    "job_lease_seconds": 3,
    "delivery_max_attempts": 1,
    "delivery_max_age_seconds": 1,
    "payment_reconcile_seconds": 0,
    "max_upload_bytes": 1,
    "max_pixels": 1,
    "max_jobs_in_flight": 1,
    "panel_port": 1,
    "jwt_ttl_seconds": 1,
    "storage_presign_seconds": 1,
}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | None = ".env") -> Settings:
    """Build Settings from `.env` overlaid by the environment; raise SettingsError on a bad value."""
    source: dict[str, str | None] = {}
    if env_file and Path(env_file).is_file():
        source.update(dotenv_values(env_file))
    source.update(os.environ if environ is None else environ)
    values = {}
    for f in fields(Settings):
        raw = source.get(f.name.upper())
        if raw is None or not raw.strip():  # empty means the default (compose passes ${VAR:-})
            continue
        values[f.name] = _convert(f.name, f.type, raw.strip())
    settings = Settings(**values)
    _validate(settings)
    return settings


def _convert(name: str, kind: str, raw: str) -> object:
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() not in _TRUE | _FALSE:
                raise ValueError
            return raw.lower() in _TRUE
    except ValueError:
        expected = "true or false" if kind == "bool" else "a number"
        raise SettingsError(f"{name.upper()} must be {expected}, got {raw!r}") from None
    return raw


def _validate(settings: Settings) -> None:
    for name, allowed in _CHOICES.items():
        value = getattr(settings, name)
        if value not in allowed:
            raise SettingsError(f"{name.upper()} must be one of {', '.join(sorted(allowed))}, got {value!r}")
    for name, minimum in _MINIMUM.items():
        if getattr(settings, name) < minimum:
            raise SettingsError(f"{name.upper()} must be at least {minimum}")
    if not settings.database_url.startswith(("sqlite:///", "postgres://", "postgresql://")):
        raise SettingsError("DATABASE_URL must start with sqlite:/// or postgresql://")
    if settings.amqp_url and not settings.amqp_url.startswith(("amqp://", "amqps://")):
        raise SettingsError("AMQP_URL must start with amqp:// or amqps://")
    # Only the processes that sign tokens (the panel and the bot) need JWT_SECRET, and they refuse
    # to start without it outside development (core.tokens.signing_secret); a weak one is refused here.
    if settings.app_env == "production" and settings.jwt_secret and len(settings.jwt_secret) < 32:
        raise SettingsError("JWT_SECRET must be at least 32 characters in production")
    if settings.metrics_token and len(settings.metrics_token) < 16:
        raise SettingsError("METRICS_TOKEN must be at least 16 characters (or empty: no metrics outside development)")
    if not re.fullmatch(r"[a-z][a-z0-9]{0,9}", settings.sticker_set_prefix):
        raise SettingsError("STICKER_SET_PREFIX must be a lower-case letter and up to 9 more letters or digits "
                            "(it begins every sticker set's name)")
    _validate_storage(settings)
    parse_packages(settings.credit_packages)


def _validate_storage(settings: Settings) -> None:
    url = settings.storage_url
    scheme = urlsplit(url).scheme
    if scheme == "s3" and not urlsplit(url).netloc:
        raise SettingsError("STORAGE_URL s3://bucket/prefix must name a bucket")
    if len(scheme) > 1 and scheme not in {"s3", "file"}:
        raise SettingsError(f"STORAGE_URL must be a directory, file:///path or s3://bucket/prefix, not {url!r}")
    if settings.storage_presign and scheme != "s3":
        raise SettingsError("STORAGE_PRESIGN=true needs an s3:// STORAGE_URL (a directory is streamed)")


def parse_packages(spec: str) -> list[tuple[int, int]]:
    """Parse CREDIT_PACKAGES ("credits:stars,...") into (credits, stars) pairs."""
    packages = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        try:
            credits, stars = (int(x) for x in item.split(":"))
        except ValueError:
            raise SettingsError(f"CREDIT_PACKAGES item {item!r} must look like credits:stars") from None
        if credits < 1 or stars < 1:
            raise SettingsError(f"CREDIT_PACKAGES item {item!r} must be positive")
        packages.append((credits, stars))
    return packages
