"""Settings an operator meets first: every problem named in one line, the ways to authenticate with
Yandex, model names, REDIS_URL, proxies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings, SettingsError, load_settings
from tests.fakes.yandex.iam import write_authorized_key
from tests.support.environment import clear_settings_environment

BASE: dict[str, Any] = {"bot_token": "123:abc", "yc_folder_id": "b1gfolder", "_env_file": None}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clear_settings_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)


def settings(**values: Any) -> Settings:
    return load_settings(**{**BASE, **values})


def problem(**values: Any) -> str:
    with pytest.raises(SettingsError) as error:
        load_settings(**values)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_every_problem_is_named_in_one_line() -> None:
    message = problem(
        _env_file=None,
        redis_url="localhost:6379",
        reply_format="html",
        bot_mode="webhook",
        chunk_size_tokens=100,
    )
    assert message.startswith("invalid settings: ")
    for name in (
        "BOT_TOKEN is required",
        "YC_FOLDER_ID is required",
        "REDIS_URL",
        "REPLY_FORMAT",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
        "YC_API_KEY, YC_SA_KEY_FILE or YC_IAM_TOKEN must be set",
        "CHUNK_OVERLAP_TOKENS",
    ):
        assert name in message, name


@pytest.mark.parametrize(
    "url",
    ["localhost:6379", "http://localhost:6379/0", "redis://", "redis://localhost:port/0", "redis://h/x"],
)
def test_a_malformed_redis_url_is_a_settings_error(url: str) -> None:
    assert problem(**BASE, yc_api_key="k", redis_url=url).startswith("invalid setting REDIS_URL: ")


@pytest.mark.parametrize(
    "url", ["redis://localhost:6379/0", "rediss://:pw@redis.example.com:6380/2", "unix:///tmp/redis.sock"]
)
def test_redis_urls_that_work(url: str) -> None:
    assert settings(yc_api_key="k", redis_url=url).redis_url == url


def test_the_only_credential_given_chooses_the_way_to_authenticate(tmp_path: Path) -> None:
    assert settings(yc_api_key="k").yc_auth == "api_key"
    assert settings(yc_iam_token="t1.x").yc_auth == "iam_token"
    key = write_authorized_key(tmp_path / "key.json")
    chosen = settings(yc_sa_key_file=str(key))
    assert chosen.yc_auth == "sa_key"
    assert chosen.yc_iam_url == "https://iam.api.cloud.yandex.net/iam/v1/tokens"
    metadata = settings(yc_auth="metadata")
    assert metadata.yc_metadata_url == (
        "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token"
    )


def test_two_credentials_need_yc_auth_to_choose(tmp_path: Path) -> None:
    message = problem(**BASE, yc_api_key="k", yc_iam_token="t")
    assert "set only one of YC_API_KEY, YC_IAM_TOKEN" in message and "YC_AUTH" in message
    assert settings(yc_api_key="k", yc_iam_token="t", yc_auth="api_key").yc_auth == "api_key"
    assert "YC_AUTH=sa_key needs YC_SA_KEY_FILE" in problem(**BASE, yc_api_key="k", yc_auth="sa_key")


def test_an_unusable_key_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "key.json").write_text('{"id": "x"}')
    message = problem(**BASE, yc_sa_key_file=str(tmp_path / "key.json"))
    assert message.startswith("invalid setting YC_SA_KEY_FILE: ")
    assert "service_account_id" in message
    assert "must be set" not in message, "the file was given: no second complaint"


def test_models_by_short_name_or_uri() -> None:
    assert settings(yc_api_key="k").yc_model_uri == "gpt://b1gfolder/yandexgpt/latest"
    assert settings(yc_api_key="k", yc_model="aliceai-llm").yc_model_uri == "gpt://b1gfolder/aliceai-llm"
    uri = "gpt://b1gfolder/yandexgpt-lite/latest@tuned123"
    assert settings(yc_api_key="k", yc_model=uri).yc_model_uri == uri
    assert "YC_MODEL names folder 'b1gother'" in problem(
        **BASE, yc_api_key="k", yc_model="gpt://b1gother/yandexgpt"
    )
    assert problem(**BASE, yc_api_key="k", yc_model="yandex gpt").startswith("invalid setting YC_MODEL")


def test_data_logging_is_off_unless_allowed() -> None:
    assert settings(yc_api_key="k").yc_data_logging is False
    assert settings(yc_api_key="k", yc_data_logging="true").yc_data_logging is True


def test_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.local:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.internal,127.0.0.1")
    chosen = settings(yc_api_key="k")
    assert chosen.proxy_for("https://ai.api.cloud.yandex.net/v1") == "http://proxy.local:3128"
    assert chosen.telegram_proxy_url == "http://proxy.local:3128"
    assert chosen.proxy_for("http://127.0.0.1:8081/v1") is None
    assert chosen.proxy_for("https://bot-api.internal/") is None
    own = settings(yc_api_key="k", telegram_proxy="socks5://user:pw@tg-proxy:1080")
    assert own.telegram_proxy_url == "socks5://user:pw@tg-proxy:1080"
    assert "pw" in own.secrets(), "logs redact the proxy's password"
    assert problem(**BASE, yc_api_key="k", telegram_proxy="tg-proxy:1080").startswith(
        "invalid setting TELEGRAM_PROXY"
    )


def test_secrets_cover_every_credential() -> None:
    chosen = settings(yc_api_key="the-api-key", redis_url="redis://:redis-pass@localhost:6379/0")
    assert {"123:abc", "the-api-key", "redis-pass"} <= set(chosen.secrets())
