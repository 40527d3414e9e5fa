from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from tests.e2e.harness import Stack
from tests.fakes.telegram.server import TelegramFake
from tests.fakes.yandex.server import YandexEmulator


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
