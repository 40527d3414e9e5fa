"""Each start-up failure of `python -m bot` is one line on the way out, no traceback: exit 2 for
settings (every bad setting named at once), exit 1 for what is outside the bot (Redis, Telegram, a
port, Yandex credentials, the model). `python -m bot.doctor` reports the same failures as one table row
each, with what to do."""

from __future__ import annotations

import socket

import pytest

from tests.e2e.harness import CliRun, Stack
from tests.support.net import free_port

pytestmark = pytest.mark.slow


def one_line(run: CliRun) -> str:
    assert "Traceback" not in run.output
    lines = run.output.strip().splitlines()
    assert len(lines) == 1, run.output
    return lines[0]


def failed_row(run: CliRun) -> str:
    """The doctor's only failed check, on one line of its table."""
    assert "Traceback" not in run.output
    rows = [line for line in run.stdout.splitlines() if "  FAIL  " in line]
    assert len(rows) == 1, run.output
    assert run.stdout.strip().splitlines()[-1].startswith("failed: ")
    return rows[0]


async def test_missing_settings_are_all_named_at_once(stack: Stack) -> None:
    env = stack.env(bot_token=None, yc_folder_id=None, yc_api_key=None)
    for module in ("bot", "bot.doctor"):
        run = await stack.run_cli(module, env)
        assert run.code == 2
        line = one_line(run)
        assert line.startswith("error: invalid settings: ")
        assert "BOT_TOKEN is required but not set" in line
        assert "YC_FOLDER_ID is required but not set" in line
        assert "YC_API_KEY, YC_SA_KEY_FILE or YC_IAM_TOKEN must be set" in line


async def test_a_malformed_redis_url_is_a_settings_error(stack: Stack) -> None:
    for module in ("bot", "bot.doctor"):
        run = await stack.run_cli(module, stack.env(redis_url="localhost:6379", reply_format="fancy"))
        assert run.code == 2
        line = one_line(run)
        assert "REDIS_URL: must be a redis://, rediss:// or unix:// URL" in line
        assert "REPLY_FORMAT" in line


async def test_unreachable_redis(stack: Stack) -> None:
    url = f"redis://:secret-password@127.0.0.1:{free_port()}/0"
    run = await stack.run_cli("bot", stack.env(redis_url=url))
    assert run.code == 1
    assert (
        one_line(run)
        == f"error: cannot reach Redis at {url.replace(':secret-password@', '')} (ConnectionError)"
    )
    doctor = await stack.run_cli("bot.doctor", stack.env(redis_url=url))
    assert doctor.code == 1
    assert "start Redis or fix REDIS_URL" in failed_row(doctor)
    assert "secret-password" not in doctor.output


async def test_unreachable_telegram(stack: Stack) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    run = await stack.run_cli("bot", stack.env(telegram_api_url=dead))
    assert run.code == 1
    assert one_line(run).startswith(f"error: cannot reach Telegram at {dead} (")
    doctor = await stack.run_cli("bot.doctor", stack.env(telegram_api_url=dead))
    assert doctor.code == 1
    assert failed_row(doctor).startswith("Telegram ")
    updates_row = next(line for line in doctor.stdout.splitlines() if line.startswith("Telegram updates"))
    assert updates_row.split()[2:] == ["-", "skipped:", "needs", "Telegram"]


async def test_a_rejected_bot_token(stack: Stack) -> None:
    run = await stack.run_cli("bot", stack.env(bot_token="999:not-the-token"))
    assert run.code == 1
    assert one_line(run) == "error: Telegram rejected BOT_TOKEN (401 Unauthorized)"
    doctor = await stack.run_cli("bot.doctor", stack.env(bot_token="999:not-the-token"))
    assert doctor.code == 1
    row = failed_row(doctor)
    assert row.startswith("Telegram ") and "Telegram rejected BOT_TOKEN" in row and "@BotFather" in row


async def test_rejected_yandex_credentials(stack: Stack) -> None:
    run = await stack.run_cli("bot", stack.env(yc_api_key="not-the-key"))
    assert run.code == 1
    assert one_line(run) == (
        "error: Yandex AI Studio rejected the credentials (API key): HTTP 401: Incorrect API key provided."
    )
    doctor = await stack.run_cli("bot.doctor", stack.env(yc_api_key="not-the-key"))
    assert doctor.code == 1
    row = failed_row(doctor)
    assert row.startswith("Yandex credentials") and "ai.languageModels.user" in row
    assert "not-the-key" not in doctor.output


async def test_a_folder_that_is_not_the_service_accounts(stack: Stack) -> None:
    run = await stack.run_cli("bot", stack.env(yc_folder_id="b1gsomeoneelse"))
    assert run.code == 1
    assert "Specified folder ID does not match with service account" in one_line(run)


async def test_an_unknown_model(stack: Stack) -> None:
    run = await stack.run_cli("bot", stack.env(yc_model="yandexgpt-ultra/latest"))
    assert run.code == 1
    line = one_line(run)
    assert line.startswith(
        f"error: YC_MODEL gpt://{stack.folder_id}/yandexgpt-ultra/latest is not offered by Yandex AI Studio"
    )
    assert f"gpt://{stack.folder_id}/yandexgpt/latest" in line, "the models it does offer are named"
    doctor = await stack.run_cli("bot.doctor", stack.env(yc_model="yandexgpt-ultra/latest"))
    assert doctor.code == 1
    assert failed_row(doctor).startswith("model ")


async def test_a_port_already_in_use(stack: Stack) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        webhook = stack.env(
            bot_mode="webhook",
            webhook_url=f"http://127.0.0.1:{port}/hook",
            webhook_secret="s3cret",
            webhook_host="127.0.0.1",
            webhook_port=str(port),
        )
        run = await stack.run_cli("bot", webhook)
        assert run.code == 1
        assert (
            one_line(run)
            == f"error: cannot listen on 127.0.0.1:{port} (WEBHOOK_PORT): Address already in use"
        )
        run = await stack.run_cli("bot", stack.env(metrics_host="127.0.0.1", metrics_port=str(port)))
        assert run.code == 1
        assert (
            one_line(run)
            == f"error: cannot listen on 127.0.0.1:{port} (METRICS_PORT): Address already in use"
        )
    assert not stack.telegram.calls("getUpdates"), "nothing was polled"
