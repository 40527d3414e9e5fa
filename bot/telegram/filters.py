"""Is a group message addressed to this bot? (mention, reply to the bot, or /ask)

In forum topics Telegram adds an implicit `reply_to_message` pointing at the topic's first message
to every message; that is not a reply to the bot and must not count as one.

Also: `InLoop`, how the handlers use aiogram's magic filters (`F.text`, `F.chat.type == ...`).
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.enums import MessageEntityType
from aiogram.filters import Filter
from aiogram.types import Message, MessageEntity, TelegramObject, User
from aiogram.utils.magic_filter import MagicFilter


class InLoop(Filter):
    """A magic filter (`F.text`, `F.chat.type == ...`) checked in the event loop.

    aiogram calls every filter that is not a coroutine function — a bare magic filter included —
    through `asyncio.to_thread` (`CallableObject.call` in aiogram/dispatcher/event/handler.py): a
    hand-off to a worker thread and back costing about 90 us of CPU, for a check of about 3 us. A
    private question passed seven of them on its way through the routers. Wrapped in this async
    filter, the same check runs where it is, with the same result."""

    def __init__(self, magic: MagicFilter) -> None:
        self._resolve = magic.resolve

    async def __call__(self, event: TelegramObject) -> Any:
        return self._resolve(event)


def is_reply_to_bot(message: Message, me: User) -> bool:
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != me.id:
        return False
    implicit_topic_reply = message.is_topic_message and replied.message_id == message.message_thread_id
    return not implicit_topic_reply


def strip_mentions(message: Message, me: User) -> tuple[bool, str]:
    """(addressed by a mention?, the text without mentions of this bot)."""
    text = message.text or message.caption or ""
    entities = message.entities or message.caption_entities or []
    username = f"@{me.username}".lower() if me.username else None
    spans = [
        _char_span(text, entity.offset, entity.length)
        for entity in entities
        if _mentions_me(entity, text, me, username)
    ]
    if not spans:
        return False, text
    kept, cursor = [], 0
    for start, end in sorted(spans):
        kept.append(text[cursor:start])
        cursor = end
        # "@bot, question" → "question"; "please @bot explain" → "please explain". Only the mention,
        # its punctuation and the spaces after it go: line breaks and indentation are the question's.
        while cursor < len(text) and text[cursor] in ",:;":
            cursor += 1
        while cursor < len(text) and text[cursor] in " \t":
            cursor += 1
    kept.append(text[cursor:])
    lines = "".join(kept).split("\n")
    dropped_lines = False
    while lines and not lines[0].strip(" \t,:;"):
        lines.pop(0)  # the mention stood alone on its line
        dropped_lines = True
    if lines and not dropped_lines:
        lines[0] = lines[0].lstrip(" \t,:;")
    return True, "\n".join(lines).rstrip()


def _mentions_me(entity: MessageEntity, text: str, me: User, username: str | None) -> bool:
    if entity.type == MessageEntityType.MENTION:
        return username is not None and entity.extract_from(text).lower() == username
    if entity.type == MessageEntityType.TEXT_MENTION:
        return entity.user is not None and entity.user.id == me.id
    return False


def _char_span(text: str, offset16: int, length16: int) -> tuple[int, int]:
    """Entity offsets count UTF-16 units; convert them to str indexes."""
    units = 0
    start = end = len(text)
    for index, char in enumerate(text):
        if units == offset16:
            start = index
        if units == offset16 + length16:
            end = index
            break
        units += 2 if ord(char) > 0xFFFF else 1
    return start, end


class AddressedToBot(Filter):
    """Passes group messages that mention the bot or reply to it; gives handlers `question`."""

    async def __call__(self, message: Message, bot: Bot) -> bool | dict[str, str]:
        me = await bot.me()
        mentioned, text = strip_mentions(message, me)
        if mentioned or is_reply_to_bot(message, me):
            return {"question": text}
        return False


class CommandForOtherBot(Filter):
    """`/cmd@other_bot`: a command meant for another bot, to be ignored silently."""

    async def __call__(self, message: Message, bot: Bot) -> bool:
        text = message.text or message.caption or ""
        if not text.startswith("/"):
            return False
        head = text.split(maxsplit=1)[0]
        _, _, mention = head.partition("@")
        me = await bot.me()
        return bool(mention) and mention.lower() != (me.username or "").lower()
