from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.e2e.harness import Stack
from tests.fakes.telegram.server import TelegramFake
from tests.fakes.yandex.fixtures import strict_config
from tests.fakes.yandex.server import YandexEmulator, running_yandex_emulator
from tests.support.environment import clear_settings_environment


@pytest.fixture(autouse=True)
def no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot under test gets exactly the settings a test gives it, whatever the shell has set."""
    clear_settings_environment(monkeypatch)


@pytest.fixture
async def yandex_emulator() -> AsyncIterator[YandexEmulator]:
    """End to end, the emulator checks the bot's credentials as a real folder does: only the test API
    key, only the test folder (`--api-key` and `--folder`)."""
    async with running_yandex_emulator(strict_config()) as emulator:
        yield emulator


@pytest.fixture
async def stack(
    telegram_fake: TelegramFake,
    yandex_emulator: YandexEmulator,
    redis_client: aioredis.Redis,
    redis_url: str,
    yandex_folder_id: str,
    yandex_api_key: str,
) -> Stack:
    return Stack(telegram_fake, yandex_emulator, redis_url, yandex_folder_id, yandex_api_key)
