"""Outer middlewares: access control before any handler runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import Message, TelegramObject, Update

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


class ChatOrderMiddleware(BaseMiddleware):
    """Handles one chat's updates one after another, in the order they were received.

    aiogram runs updates as concurrent tasks; without this, a question sent right after a group
    became a supergroup could be queued before the migration moved the group's state. Handlers only
    queue work (answers run in lanes), so holding a chat's updates back costs milliseconds.
    """

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chat_id = _chat_of(event)
        if chat_id is None:
            return await handler(event, data)
        lock, users = self._locks.get(chat_id, (asyncio.Lock(), 0))
        self._locks[chat_id] = (lock, users + 1)
        try:
            async with lock:
                return await handler(event, data)
        finally:
            lock, users = self._locks[chat_id]
            if users <= 1:
                del self._locks[chat_id]
            else:
                self._locks[chat_id] = (lock, users - 1)


def _chat_of(event: TelegramObject) -> int | None:
    if not isinstance(event, Update):
        return None
    for item in (event.message, event.edited_message, event.my_chat_member, event.chat_member):
        if item is not None:
            return item.chat.id
    query = event.callback_query
    if query is not None and query.message is not None:
        return query.message.chat.id
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
