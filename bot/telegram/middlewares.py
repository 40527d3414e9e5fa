"""Outer middlewares: access control before any handler runs, per-chat order, log correlation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Chat, ChatMemberUpdated, Message, TelegramObject, Update, User

from bot.logs import correlation_id
from bot.telegram import texts
from bot.telegram.delivery import Destination
from bot.telegram.formatting import Chunk, escape_markdown
from bot.telegram.mappers import GONE, PRESENT, destination, language, sender_id
from bot.telegram.services import BotServices

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class AccessMiddleware(BaseMiddleware):
    """The allowlists, before any handler, for every kind of update: messages, button presses, the
    bot being added to a group, Stop on a draft — and any kind added later, which is dropped unless
    its sender and chat are allowed. Refusals are polite and rare (once per chat per hour)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        services: BotServices = data["services"]
        if not isinstance(event, Update) or not services.access.restricted:
            return await handler(event, data)
        access = services.access
        if event.message is not None or event.edited_message is not None:
            message = event.message or event.edited_message
            assert message is not None
            if access.allows(sender_id(message), message.chat.id):
                return await handler(event, data)
            if event.message is not None:
                await _refuse_message(message, services)
            return None
        if event.callback_query is not None:
            query = event.callback_query
            chat_id = query.message.chat.id if query.message is not None else None
            if chat_id is not None and access.allows(query.from_user.id, chat_id):
                return await handler(event, data)
            log.info("refused a button press from user %s in chat %s", query.from_user.id, chat_id)
            refusal = texts.text(language(query.from_user), "access_denied")
            await query.answer(refusal, show_alert=True)
            return None
        if event.my_chat_member is not None:
            change = event.my_chat_member
            joined = change.old_chat_member.status in GONE and change.new_chat_member.status in PRESENT
            if not joined or access.allows(change.from_user.id, change.chat.id):
                return await handler(event, data)  # leaving or changes of status: cleanup is always fine
            await _refuse_group(change, services, data["bot"])
            return None
        if event.stopped_message_generation is not None:
            chat = event.stopped_message_generation.chat
            if access.allows(chat.id, chat.id):  # a private chat's id is its user's id
                return await handler(event, data)
            return None
        user: User | None = data.get("event_from_user")
        chat_of_event: Chat | None = data.get("event_chat")
        if chat_of_event is not None and access.allows(user.id if user else None, chat_of_event.id):
            return await handler(event, data)
        log.info("dropped an update of a kind the allowlist does not cover: %s", event.event_type)
        return None


async def _refuse_message(message: Message, services: BotServices) -> None:
    log.info("refused a message from user %s in chat %s", sender_id(message), message.chat.id)
    addressed = message.chat.type == ChatType.PRIVATE or (message.text or "").startswith("/")
    if addressed and await services.refusals.should_refuse_loudly(message.chat.id):
        refusal = texts.text(language(message.from_user), "access_denied")
        await services.sender.send_markdown(
            destination(message, reply=False), escape_markdown(refusal), reply=False
        )


async def _refuse_group(change: ChatMemberUpdated, services: BotServices, bot: Bot) -> None:
    """Added to a group by someone outside the allowlists: say so (once an hour) and leave."""
    log.info(
        "added to group %s by user %s outside the allowlist; leaving", change.chat.id, change.from_user.id
    )
    try:
        if await services.refusals.should_refuse_loudly(change.chat.id):
            refusal = texts.text(language(change.from_user), "access_denied_group")
            await services.sender.send_chunk(
                Destination(chat_id=change.chat.id, is_group=True), Chunk(refusal), reply=False
            )
    finally:
        try:
            await bot.leave_chat(change.chat.id)
        except TelegramAPIError as error:
            log.warning("could not leave group %s: %s", change.chat.id, type(error).__name__)


class CallbackGuardMiddleware(BaseMiddleware):
    """A button press reaches a handler only if it is one of the buttons its message shows now.

    Callback data comes from the client: a modified client can send any data for any message, and a
    client may still show a keyboard the bot has since replaced. Whatever the data names, it is acted
    on only when the bot's own message carries that very button, so a press can never touch another
    message (or a prompt that moved on). Anything else is answered — the spinner stops — and dropped.
    Handlers then check who pressed (their permission) against what the button is about.
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, CallbackQuery):
            return await handler(event, data)
        bot: Bot = data["bot"]
        message = event.message
        if isinstance(message, Message) and _sent_by(message, bot.id) and _has_button(message, event.data):
            return await handler(event, data)
        log.info("ignored a press of a button that is not on its message")
        lang = language(event.from_user)
        stale = texts.text(lang, "button_stale")
        try:
            await event.answer(stale)
        except TelegramAPIError as error:
            log.info("could not answer a stale button press: %s", type(error).__name__)
        return None


def _sent_by(message: Message, bot_id: int) -> bool:
    return message.from_user is not None and message.from_user.id == bot_id


def _has_button(message: Message, data: str | None) -> bool:
    markup = message.reply_markup
    if data is None or markup is None:
        return False
    return any(button.callback_data == data for row in markup.inline_keyboard for button in row)


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
