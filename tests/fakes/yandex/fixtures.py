"""Pytest fixtures for the Yandex AI Studio emulator (registered in ``tests/conftest.py``).

``yandex_emulator`` is a fresh emulator per test, paced for speed: first delta after 50 ms,
2000 characters/s, indexing in 100 ms. ``openai_client`` is the real openai client pointed at it (no
retries), ``yandex_model`` a model URI in the test folder. ``strict_config`` adds the checks of a real
folder (only ``TEST_API_KEY``, only ``TEST_FOLDER_ID``); the end-to-end tests run with it.
``service_account_key_file`` is an authorized key (generated once per session) for IAM tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest

from .config import EmulatorConfig
from .iam import write_authorized_key
from .server import YandexEmulator, running_yandex_emulator

TEST_FOLDER_ID = "b1gtestfolder"
TEST_API_KEY = "test-api-key"


def fast_config() -> EmulatorConfig:
    return EmulatorConfig(first_delta_delay=0.05, chars_per_second=2000.0, indexing_delay=0.1)


def strict_config() -> EmulatorConfig:
    """``fast_config`` with credentials checked as a real folder checks them (``--api-key test-api-key
    --folder b1gtestfolder``): any other key is a 401, any other folder a 400."""
    config = fast_config()
    config.api_keys = frozenset({TEST_API_KEY})
    config.folder_id = TEST_FOLDER_ID
    return config


@pytest.fixture(scope="session")
def service_account_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An authorized key file (``yc iam key create`` format) with a fresh RSA key."""
    return write_authorized_key(tmp_path_factory.mktemp("sa-key") / "authorized_key.json")


@pytest.fixture
def yandex_folder_id() -> str:
    return TEST_FOLDER_ID


@pytest.fixture
def yandex_api_key() -> str:
    return TEST_API_KEY


@pytest.fixture
def yandex_model(yandex_folder_id: str) -> str:
    """A model URI the emulator accepts for the test folder."""
    return f"gpt://{yandex_folder_id}/yandexgpt/latest"


@pytest.fixture
async def yandex_emulator() -> AsyncIterator[YandexEmulator]:
    async with running_yandex_emulator(fast_config()) as emulator:
        yield emulator


@pytest.fixture
async def openai_client(
    yandex_emulator: YandexEmulator, yandex_api_key: str, yandex_folder_id: str
) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(
        base_url=yandex_emulator.base_url, api_key=yandex_api_key, project=yandex_folder_id, max_retries=0
    )
    try:
        yield client
    finally:
        await client.close()
