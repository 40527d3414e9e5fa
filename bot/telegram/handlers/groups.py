"""Group Q&A: answer only when addressed (mention, reply, /ask), one shared conversation per group or
topic, replies in the asker's topic; greetings, cleanup on removal, and group → supergroup moves."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import ChatMemberUpdated, Message

from bot.core.models import Question
from bot.telegram import texts
from bot.telegram.delivery import Destination
from bot.telegram.filters import AddressedToBot, CommandForOtherBot, InLoop
from bot.telegram.formatting import Chunk
from bot.telegram.handlers.private import history
from bot.telegram.mappers import GONE, PRESENT, author_of, conversation_key, destination, language
from bot.telegram.permissions import sent_by_admin
from bot.telegram.replies import ReplyContext, reply_context
from bot.telegram.services import BotServices

log = logging.getLogger(__name__)


async def _ask(
    message: Message, services: BotServices, bot: Bot, text: str, *, with_reply: bool = True
) -> None:
    """`with_reply`: the message it replies to is what the question refers to (not when that message
    is itself the question, as with a bare /ask)."""
    context = reply_context(message, await bot.me(), services.media) if with_reply else ReplyContext()
    question = Question(
        key=conversation_key(message, services.group_context),
        text=text,
        language=language(message.from_user),
        author=author_of(message),
        refers_to=context.reference,
    )
    asker = message.from_user.id if message.from_user else None
    dest = destination(message, reply=True)
    await services.answers.ask(question, dest, asker, message.message_id, media=context.media or None)


async def _reply(message: Message, services: BotServices, markdown: str) -> None:
    await services.sender.send_markdown(destination(message, reply=True), markdown, reply=True)


async def ask_command(message: Message, command: CommandObject, services: BotServices, bot: Bot) -> None:
    text = (command.args or "").strip()
    replied = message.reply_to_message
    quoted_question = False
    if not text and replied is not None and not message.is_topic_message:
        text = replied.text or replied.caption or ""
        quoted_question = True
    if not text:
        await _reply(message, services, texts.text(language(message.from_user), "ask_usage"))
        return
    await _ask(message, services, bot, text, with_reply=not quoted_question)


async def addressed(message: Message, question: str, services: BotServices, bot: Bot) -> None:
    await _ask(message, services, bot, question)


async def help_command(message: Message, services: BotServices) -> None:
    await _reply(message, services, texts.text(language(message.from_user), "help"))


async def new_conversation(message: Message, services: BotServices, bot: Bot) -> None:
    lang = language(message.from_user)
    if not await sent_by_admin(bot, services.access, message):
        await _reply(message, services, texts.text(lang, "admins_only"))
        return
    await services.conversations.reset(conversation_key(message, services.group_context))
    await _reply(message, services, texts.text(lang, "new"))


async def ignore(message: Message) -> None:
    """Commands meant for other bots: not ours to answer."""


async def remember_chatter(message: Message, services: BotServices) -> None:
    """Unaddressed messages: silently kept as context if the operator enabled it."""
    if services.chatter is not None and message.text:
        key = conversation_key(message, services.group_context)
        await services.chatter.remember(key, author_of(message), message.text)


async def migrated_to(message: Message, services: BotServices) -> None:
    """Service message in the old basic group: it became a supergroup."""
    if message.migrate_to_chat_id is not None:
        await services.sender.chat_migrated(message.chat.id, message.migrate_to_chat_id)


async def migrated_from(message: Message, services: BotServices) -> None:
    """Service message in the new supergroup; the same move, seen from the other side."""
    if message.migrate_from_chat_id is not None:
        await services.sender.chat_migrated(message.migrate_from_chat_id, message.chat.id)


async def membership(event: ChatMemberUpdated, services: BotServices, bot: Bot) -> None:
    if event.chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return
    old, new = event.old_chat_member.status, event.new_chat_member.status
    lang = language(event.from_user)
    if old in GONE and new in PRESENT:
        me = await bot.me()
        per_topic = texts.text(lang, "group_greeting_per_topic") if services.group_context == "topic" else ""
        greeting = texts.text(lang, "group_greeting", mention=f"@{me.username}", per_topic=per_topic)
        await services.sender.send_chunk(
            Destination(chat_id=event.chat.id, is_group=True), Chunk(greeting), reply=False
        )
    elif new in GONE:
        seconds = services.group_state_retention_days * 86400
        touched = await services.chat_keys.expire_within(event.chat.id, seconds)
        log.info(
            "removed from group %s: %d keys expire within %d days", event.chat.id, touched, seconds // 86400
        )


def setup() -> Router:
    router = Router(name="groups")
    router.message.filter(InLoop(F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP})))
    router.message.register(migrated_to, InLoop(F.migrate_to_chat_id))
    router.message.register(migrated_from, InLoop(F.migrate_from_chat_id))
    router.message.register(ignore, CommandForOtherBot())
    router.message.register(ask_command, Command("ask"))
    router.message.register(help_command, Command("help", "start"))
    router.message.register(new_conversation, Command("new"))
    router.message.register(history, Command("history"))
    router.message.register(addressed, AddressedToBot())
    router.message.register(remember_chatter, InLoop(F.text), InLoop(~F.text.startswith("/")))
    router.my_chat_member.register(membership)
    return router
