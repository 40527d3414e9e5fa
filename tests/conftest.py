"""Shared fixtures: a real Redis database and the two HTTP fakes (Yandex emulator, Telegram Bot API)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

pytest_plugins = [
    "tests.fakes.yandex.fixtures",
    "tests.fakes.telegram.fixtures",
]

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url() -> str:
    """URL of the real Redis database the tests own; it is flushed before each test that uses it."""
    return TEST_REDIS_URL


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client: aioredis.Redis = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()
