"""Which HTTP backend the openai clients get (bot.yandex.client.build_openai_client): answer streams go
through aiohttp unless a proxy applies; everything else, and answers behind a proxy, through httpx."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from openai._vendor.httpx_aiohttp import Httpx2AiohttpClient

from bot.settings import load_settings
from bot.yandex.client import build_credentials, build_openai_client

BASE = {"bot_token": "123:abc", "yc_folder_id": "b1gfolder", "yc_api_key": "key", "_env_file": None}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith(("BOT_", "YC_", "HTTPS_PROXY", "NO_PROXY", "HTTP_PROXY", "ALL_PROXY")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("proxy", "answer_streams", "aiohttp"),
    [
        (None, True, True),
        (None, False, False),
        ("http://proxy:3128", True, False),
        ("http://proxy:3128", False, False),
    ],
)
async def test_answer_streams_use_aiohttp_unless_a_proxy_applies(
    proxy: str | None, answer_streams: bool, aiohttp: bool
) -> None:
    settings = load_settings(**BASE, **({"https_proxy": proxy} if proxy else {}))
    credentials = build_credentials(settings)
    client = build_openai_client(settings, credentials, answer_streams=answer_streams)
    try:
        assert isinstance(client._client, Httpx2AiohttpClient) is aiohttp
    finally:
        await client.close()
        await credentials.aclose()
