"""Outer middlewares: access control before any handler runs."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import Message, TelegramObject

from bot.logs import correlation_id
from bot.telegram import texts
from bot.telegram.formatting import escape_markdown
from bot.telegram.mappers import destination, language
from bot.telegram.services import BotServices

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class AccessMiddleware(BaseMiddleware):
    """Drops messages from users and chats outside the allowlists; refuses politely once an hour."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Message):
            return await handler(event, data)
        services: BotServices = data["services"]
        user_id = event.from_user.id if event.from_user else None
        if services.access.allows(user_id, event.chat.id):
            return await handler(event, data)
        log.info("refused a message from user %s in chat %s", user_id, event.chat.id)
        addressed = event.chat.type == ChatType.PRIVATE or (event.text or "").startswith("/")
        if addressed and await services.refusals.should_refuse_loudly(event.chat.id):
            refusal = texts.text(language(event.from_user), "access_denied")
            await services.sender.send_markdown(
                destination(event, reply=False), escape_markdown(refusal), reply=False
            )
        return None


class CorrelationMiddleware(BaseMiddleware):
    """Tags every log line written while handling an update with that update's id."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        update_id = getattr(event, "update_id", None)
        token = correlation_id.set(str(update_id) if update_id is not None else None)
        try:
            return await handler(event, data)
        finally:
            correlation_id.reset(token)
