"""Settings: one clear line naming the bad setting, exit code 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings
from tests.support.environment import clear_settings_environment

ROOT = Path(__file__).resolve().parents[2]
VALID = {"BOT_TOKEN": "123:abc", "YC_FOLDER_ID": "folder", "YC_API_KEY": "super-secret-api-key"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clear_settings_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_valid_settings_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALLOWED_USER_IDS", "1, 2,3")
    settings = load_settings()
    assert settings.bot_id == 123
    assert settings.allowed_user_ids == frozenset({1, 2, 3})
    assert settings.admin_user_ids == frozenset()
    assert settings.reply_format == "classic"  # rich messages are not shown by every client
    assert settings.private_streaming == "draft"
    assert settings.yc_base_url == "https://ai.api.cloud.yandex.net/v1"
    assert settings.yc_model == "yandexgpt/latest"
    assert "super-secret-api-key" not in repr(settings)


def test_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BOT_TOKEN=9:x\nYC_FOLDER_ID=f\nYC_IAM_TOKEN=t\nREPLY_FORMAT=rich\n")
    settings = load_settings()
    assert settings.bot_id == 9
    assert settings.reply_format == "rich"
    assert settings.yc_auth == "iam_token"
    assert settings.yc_iam_token is not None and settings.yc_iam_token.get_secret_value() == "t"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"BOT_TOKEN": None}, "BOT_TOKEN"),
        ({"BOT_TOKEN": "nonsense"}, "BOT_TOKEN"),
        ({"YC_FOLDER_ID": None}, "YC_FOLDER_ID"),
        ({"YC_API_KEY": None}, "YC_API_KEY, YC_SA_KEY_FILE or YC_IAM_TOKEN must be set"),
        ({"REPLY_FORMAT": "html"}, "REPLY_FORMAT"),
        ({"PRIVATE_STREAMING": "carrier-pigeon"}, "PRIVATE_STREAMING"),
        ({"ALLOWED_USER_IDS": "12,abc"}, "ALLOWED_USER_IDS"),
    ],
)
def test_bad_settings_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str | None], expected: str
) -> None:
    for name, value in {**VALID, **overrides}.items():
        if value is not None:
            monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_python_m_bot_with_bad_settings_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "YC_FOLDER_ID": "f", "YC_API_KEY": "k"}
    result = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: invalid setting BOT_TOKEN: is required but not set"]
    assert "Traceback" not in result.stderr


def test_python_m_bot_without_redis_exits_1_with_one_line(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        **VALID,
        "REDIS_URL": "redis://:secret-password@127.0.0.1:1/0",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: cannot reach Redis at redis://127.0.0.1:1/0 (ConnectionError)"
    ]
    assert "secret-password" not in result.stderr


def test_the_context_size_defaults_to_what_yandex_documents_for_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MODEL_CONTEXT_TOKENS", "")  # empty in .env: not set
    assert load_settings().context_tokens == 32_768
    assert load_settings(yc_model="qwen3-235b-a22b-fp8/latest").context_tokens == 262_144
    assert load_settings(yc_model="gpt-oss-120b/latest").context_tokens == 131_072
    monkeypatch.setenv("MODEL_CONTEXT_TOKENS", "3000")
    settings = load_settings(yc_model="qwen3-235b-a22b-fp8/latest")
    assert settings.context_tokens == 3000
    assert (settings.context_rollover_percent, settings.rollover_recent_percent) == (75, 20)


def test_a_rollover_must_leave_room_in_the_new_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CONTEXT_ROLLOVER_PERCENT", "60")
    monkeypatch.setenv("ROLLOVER_RECENT_PERCENT", "35")
    with pytest.raises(SettingsError, match="ROLLOVER_RECENT_PERCENT must be at most half"):
        load_settings()
    monkeypatch.setenv("MODEL_CONTEXT_TOKENS", "100")
    monkeypatch.setenv("ROLLOVER_RECENT_PERCENT", "20")
    with pytest.raises(SettingsError, match="MODEL_CONTEXT_TOKENS"):
        load_settings()
