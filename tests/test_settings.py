import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from core.errors import SettingsError
from core.settings import Settings, load_settings, parse_packages

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_need_no_environment():
    settings = load_settings({}, env_file=None)
    assert settings.database_url == "sqlite:///var/cutout.db"
    assert settings.price_per_image == 1
    assert settings.signup_bonus_credits == 3


def test_environment_overrides_dotenv(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("PRICE_PER_IMAGE=5\nSIGNUP_BONUS_CREDITS=7\n")
    settings = load_settings({"PRICE_PER_IMAGE": "2"}, env_file=str(env_file))
    assert settings.price_per_image == 2
    assert settings.signup_bonus_credits == 7


def test_malformed_number_names_the_setting():
    with pytest.raises(SettingsError, match="PRICE_PER_IMAGE must be a number"):
        load_settings({"PRICE_PER_IMAGE": "one"}, env_file=None)


def test_price_below_one_is_refused():
    with pytest.raises(SettingsError, match="PRICE_PER_IMAGE must be at least 1"):
        load_settings({"PRICE_PER_IMAGE": "0"}, env_file=None)


def test_unknown_database_scheme_is_refused():
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings({"DATABASE_URL": "mysql://x"}, env_file=None)


def test_production_requires_a_strong_jwt_secret():
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        load_settings({"APP_ENV": "production", "JWT_SECRET": "short"}, env_file=None)


def test_bad_credit_package_is_refused():
    with pytest.raises(SettingsError, match="CREDIT_PACKAGES"):
        load_settings({"CREDIT_PACKAGES": "10-50"}, env_file=None)
    assert parse_packages("10:50, 50:200") == [(10, 50), (50, 200)]


@pytest.mark.parametrize("prefix", ["1cutout", "cut_out", "Cutout", "abcdefghijk", "cut-out"])
def test_a_sticker_set_prefix_telegram_would_refuse_is_refused_at_start(prefix):
    with pytest.raises(SettingsError, match="STICKER_SET_PREFIX"):
        load_settings({"STICKER_SET_PREFIX": prefix}, env_file=None)
    assert load_settings({"STICKER_SET_PREFIX": "pix2"}, env_file=None).sticker_set_prefix == "pix2"


def test_every_setting_is_documented_in_env_example():
    # Keys below the marker are read by docker-compose.yml only (tests/test_deploy.py checks them).
    settings_part = (ROOT / ".env.example").read_text().split("# --- docker-compose only ---")[0]
    documented = {
        line.split("=", 1)[0]
        for line in settings_part.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert {f.name.upper() for f in fields(Settings)} == documented


def test_a_bad_setting_stops_the_cli_with_one_clear_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "core", "check-ledger"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PRICE_PER_IMAGE": "lots", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "configuration error: PRICE_PER_IMAGE must be a number, got 'lots'"


def test_every_setting_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    missing = [f.name.upper() for f in fields(Settings) if f"| `{f.name.upper()}` |" not in readme]
    assert missing == []
