"""Pytest fixtures for the Telegram Bot API fake (registered from tests/conftest.py).

- `telegram_fake`: a running fake with the default `FakeConfig`, fresh for each test.
- `tg_bot`: a real aiogram `Bot` talking to it over HTTP; its session is closed after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from .server import TelegramFake, running_telegram_fake


def make_bot(fake: TelegramFake) -> Bot:
    """An aiogram Bot pointed at `fake`; the caller closes `bot.session`."""
    return Bot(fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))


@pytest.fixture
async def telegram_fake() -> AsyncIterator[TelegramFake]:
    async with running_telegram_fake() as fake:
        yield fake


@pytest.fixture
async def tg_bot(telegram_fake: TelegramFake) -> AsyncIterator[Bot]:
    bot = make_bot(telegram_fake)
    try:
        yield bot
    finally:
        await bot.session.close()
