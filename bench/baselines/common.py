"""Plumbing shared by the baseline bots: settings, clients, long polling, and a bounded final retry.

Settings come from the same environment variables as `python -m bot` (`BOT_TOKEN`, `TELEGRAM_API_URL`,
`YC_FOLDER_ID`, `YC_API_KEY`, `YC_BASE_URL`, `YC_MODEL`), plus `EDIT_EVERY_CHARS` for the edit baseline.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.enums import ChatType
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import Message, ReplyParameters
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

log = logging.getLogger(__name__)

T = TypeVar("T")

FINAL_ATTEMPTS = 5
"""How many times the final text is tried (waiting `retry after` between tries) before giving up."""
TELEGRAM_TEXT_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class BaselineSettings:
    bot_token: str
    telegram_api_url: str | None
    folder_id: str
    api_key: str
    base_url: str
    model: str
    edit_every_chars: int

    @property
    def model_uri(self) -> str:
        return self.model if self.model.startswith("gpt://") else f"gpt://{self.folder_id}/{self.model}"


def load_settings(env: Mapping[str, str] = os.environ) -> BaselineSettings:
    return BaselineSettings(
        bot_token=env["BOT_TOKEN"],
        telegram_api_url=env.get("TELEGRAM_API_URL") or None,
        folder_id=env["YC_FOLDER_ID"],
        api_key=env["YC_API_KEY"],
        base_url=env.get("YC_BASE_URL", "https://ai.api.cloud.yandex.net/v1"),
        model=env.get("YC_MODEL", "yandexgpt/latest"),
        edit_every_chars=int(env.get("EDIT_EVERY_CHARS", "100")),
    )


Answerer = Callable[[Message, Bot, AsyncOpenAI, BaselineSettings], Awaitable[None]]


def run(answer: Answerer) -> int:
    """Poll Telegram until SIGINT/SIGTERM, answering every text message with `answer`."""
    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_poll(settings, answer))
    return 0


async def _poll(settings: BaselineSettings, answer: Answerer) -> None:
    api = TelegramAPIServer.from_base(settings.telegram_api_url) if settings.telegram_api_url else PRODUCTION
    bot = Bot(settings.bot_token, session=AiohttpSession(api=api))
    client = AsyncOpenAI(api_key=settings.api_key, project=settings.folder_id, base_url=settings.base_url)
    dispatcher = Dispatcher()

    async def on_text(message: Message) -> None:
        await answer(message, bot, client, settings)

    dispatcher.message.register(on_text, F.text)
    try:
        await dispatcher.start_polling(bot)
    finally:
        await client.close()


def reply_to(message: Message) -> ReplyParameters | None:
    """In groups the answer replies to the question; in private chats it is just the next message."""
    if message.chat.type == ChatType.PRIVATE:
        return None
    return ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)


def question_messages(message: Message) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": message.text or ""}]


def parts(text: str) -> list[str]:
    """The text cut into Telegram-sized pieces (the benchmark's answers fit in one)."""
    return [text[start : start + TELEGRAM_TEXT_LIMIT] for start in range(0, len(text), TELEGRAM_TEXT_LIMIT)]


async def deliver(call: Callable[[], Awaitable[T]]) -> T | None:
    """Run a Bot API call that must arrive: wait out `retry after` (and retry network or server errors)
    up to FINAL_ATTEMPTS times. "Message is not modified" counts as delivered."""
    for attempt in range(1, FINAL_ATTEMPTS + 1):
        try:
            return await call()
        except TelegramRetryAfter as error:
            if attempt < FINAL_ATTEMPTS:
                await asyncio.sleep(error.retry_after)
        except (TelegramNetworkError, TelegramServerError):
            if attempt < FINAL_ATTEMPTS:
                await asyncio.sleep(1.0)
        except TelegramBadRequest as error:
            if "message is not modified" in error.message:
                return None
            raise
    log.warning("gave up delivering a final text after %d attempts", FINAL_ATTEMPTS)
    return None
