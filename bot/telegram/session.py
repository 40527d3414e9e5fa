"""What aiogram's HTTP session needs from us beyond its defaults."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType


class KeepResponseModels(BaseRequestMiddleware):
    """Builds the reply model of each Bot API method once per process.

    aiogram parses every reply with `Response[method.__returning__]`, a pydantic generic model, and
    pydantic keeps such models only in a weak cache: once no reply is being parsed, the garbage
    collector drops the model and the next call rebuilds its schema (several ms of CPU for
    `Response[bool]`, the reply of every draft; 27 rebuilds in a 100-answer bench window). Holding
    one reference per method's result type makes that a one-off."""

    def __init__(self) -> None:
        self._models: dict[Any, type[Response[Any]]] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self._models:
            self._models[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)

    @property
    def kept(self) -> int:
        """How many reply models are held."""
        return len(self._models)
