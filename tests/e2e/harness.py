"""Runs the real bot (aiogram polling, real Redis, real openai client) against the two fakes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bot.app import BotApp
from bot.settings import Settings, load_settings
from tests.fakes.telegram.server import TelegramFake
from tests.fakes.yandex.server import YandexEmulator


@dataclass
class Stack:
    telegram: TelegramFake
    yandex: YandexEmulator
    redis_url: str
    folder_id: str
    api_key: str

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "bot_token": self.telegram.token,
            "telegram_api_url": self.telegram.base_url,
            "redis_url": self.redis_url,
            "yc_folder_id": self.folder_id,
            "yc_api_key": self.api_key,
            "yc_base_url": self.yandex.base_url,
            "yc_stt_url": self.yandex.stt_url,
            "yc_stt_async_url": self.yandex.stt_async_url,
            "yc_operations_url": self.yandex.operations_url,
            "metrics_port": 0,  # tests that need /metrics pick a free port
            "_env_file": None,
        }
        values.update(overrides)
        return load_settings(**values)

    @contextlib.asynccontextmanager
    async def bot(self, **overrides: Any) -> AsyncIterator[BotApp]:
        """The bot polling the Telegram fake until the block ends (then a graceful stop)."""
        settings = self.settings(**overrides)
        app = await BotApp.create(settings)
        if settings.bot_mode == "webhook":
            serving = asyncio.create_task(app.run_webhook(handle_signals=False))
        else:
            serving = asyncio.create_task(app.run_polling(handle_signals=False))
        try:
            ready = asyncio.create_task(app.serving.wait())
            await asyncio.wait({ready, serving}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
            if serving.done():
                serving.result()  # startup failed: surface its exception
            yield app
        finally:
            await app.stop()
            await serving


def final_texts(telegram: TelegramFake, chat_id: int) -> list[str]:
    """What the user finally sees from the bot: each message's latest text (or rich Markdown)."""
    return [m["rich_markdown"] or m["text"] or "" for m in telegram.bot_messages(chat_id) if not m["deleted"]]
