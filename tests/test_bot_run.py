"""`python -m bot` as a process: start-up refusals, the webhook's secret, and the whole product end to end."""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from bot.webhook import SECRET_HEADER, make_webhook_app, secret_matches
from core.errors import SettingsError
from tests.support.bot_harness import BotHarness
from tests.support.bot_updates import Person
from tests.support.fake_bot_api import TOKEN
from tests.support.fake_bot_api_server import FakeBotApiServer
from tests.support.images import decode, encode, subject_image
from tests.support.processes import process_env, running

SECRET = "s3cret-Token_for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_bot(tmp_path, **values) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env=process_env(tmp_path, **values),
                          capture_output=True, text=True, timeout=60)


def post(url: str, body: dict | bytes, secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_without_a_token_it_says_so_in_one_line_and_exits_2(tmp_path):
    result = run_bot(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)"]


def test_a_webhook_without_a_secret_is_refused_at_start(tmp_path):
    result = run_bot(tmp_path, telegram_bot_token=TOKEN, telegram_webhook_url="https://bot.example.test/hook")
    assert result.returncode == 2
    assert "TELEGRAM_WEBHOOK_SECRET is required" in result.stderr


def test_an_unmigrated_database_is_refused_at_start(tmp_path):
    result = run_bot(tmp_path, telegram_bot_token=TOKEN)
    assert result.returncode == 2 and "python -m core migrate" in result.stderr


def test_the_secret_is_compared_exactly():
    assert secret_matches(SECRET, SECRET)
    assert not any(secret_matches(other, SECRET) for other in (None, "", SECRET[:-1], SECRET + "x", "ü" + SECRET))


def test_a_webhook_server_without_a_secret_cannot_be_made(sqlite_settings):
    settings = dataclasses.replace(sqlite_settings, telegram_bot_token=TOKEN)
    with BotHarness(settings) as harness, pytest.raises(SettingsError, match="secret"):
        make_webhook_app(harness.app, "", "/hook")


def test_webhook_mode_registers_the_secret_and_answers_updates(sqlite_settings, tmp_path):
    port = free_port()
    with FakeBotApiServer() as api_server, running(
            "bot", tmp_path, database_url=sqlite_settings.database_url, telegram_bot_token=TOKEN,
            telegram_api_base_url=api_server.base_url, telegram_file_base_url=api_server.base_file_url,
            telegram_webhook_url="https://bot.example.test/tg/hook", telegram_webhook_secret=SECRET,
            telegram_webhook_listen="127.0.0.1", telegram_webhook_port=port):
        [registered] = api_server.api.wait_for("setWebhook", timeout=30)
        assert registered.params["url"] == "https://bot.example.test/tg/hook"
        assert registered.params["secret_token"] == SECRET
        ann = Person(9101)
        assert post(f"http://127.0.0.1:{port}/tg/hook", ann.text("/help"), "not-it") == 403
        assert post(f"http://127.0.0.1:{port}/tg/hook", ann.text("/start"), SECRET) == 200
        [greeting] = api_server.api.wait_for("sendMessage", timeout=30)
        assert greeting.params["chat_id"] == ann.id and greeting.text.startswith("Hi, Ann!")
    assert len(api_server.api.calls_to("sendMessage")) == 1  # the refused /help never ran


def test_end_to_end_a_photo_goes_in_and_a_transparent_png_comes_back(pg_settings, pg_url, amqp_names,
                                                                    tiny_model_path, tmp_path):
    """Real processes: the bot polling a fake Bot API over HTTP, a worker with the tiny model,
    RabbitMQ and PostgreSQL."""
    shared = dict(amqp_names, database_url=pg_url, storage_dir=tmp_path / "storage", worker_threads=1,
                  rembg_model_path=tiny_model_path, model_dir=tmp_path / "models")
    with FakeBotApiServer() as api_server:
        api = api_server.api
        with running("worker", tmp_path, **shared), running(
                "bot", tmp_path, telegram_bot_token=TOKEN, telegram_api_base_url=api_server.base_url,
                telegram_file_base_url=api_server.base_file_url, **shared):
            ann = Person(9200)
            api.push_update(ann.text("/start"))
            [greeting] = api.wait_for("sendMessage", timeout=60)
            assert "You got 3 free credits" in greeting.text
            api.push_update(ann.photo(api.add_file(encode(subject_image(), "JPEG"))))
            [document] = api.wait_for("sendDocument", timeout=120)
        filename, data = document.files["document"]
        assert filename == "photo-cutout.png" and document.params["chat_id"] == ann.id
        image = decode(data)
        assert image.mode == "RGBA" and image.getchannel("A").getextrema()[0] < 255
        assert any(call.text == "Done ✅" for call in api.calls_to("editMessageText"))
