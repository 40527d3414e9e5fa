"""Telegram objects → the product's values. The only place that reads chat/thread/user ids."""

from __future__ import annotations

from typing import Literal

from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.types import Message, User

from bot.core.display import clean_name
from bot.core.models import ConversationKey, Language
from bot.telegram.delivery import Destination
from bot.telegram.texts import language_of

GONE = frozenset({ChatMemberStatus.LEFT, ChatMemberStatus.KICKED})
PRESENT = frozenset({ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.CREATOR})


def is_group(message: Message) -> bool:
    return message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


GroupContext = Literal["group", "topic", "user"]


def conversation_key(message: Message, group_context: GroupContext = "topic") -> ConversationKey:
    """Private chats: one conversation per chat (per topic in private topics). Groups: per the
    operator's choice — the whole group, each forum topic, or each member."""
    thread = message.message_thread_id if message.is_topic_message else None
    if not is_group(message):
        return ConversationKey(chat_id=message.chat.id, thread_id=thread)
    if group_context == "group":
        return ConversationKey(chat_id=message.chat.id)
    if group_context == "user":
        user_id = message.from_user.id if message.from_user else 0
        return ConversationKey(chat_id=message.chat.id, thread_id=thread, user_id=user_id)
    return ConversationKey(chat_id=message.chat.id, thread_id=thread)


def sender_id(message: Message) -> int | None:
    """Who sent the message, as far as the bot can tell: None when it was sent on behalf of a chat
    (an anonymous group admin, or a channel posting into its discussion group), since `from` then
    holds a stand-in account shared by everyone who posts that way."""
    if message.sender_chat is not None or message.from_user is None:
        return None
    return message.from_user.id


def is_anonymous_admin(message: Message) -> bool:
    """An admin of this group posting on behalf of the group (Telegram hides who)."""
    return message.sender_chat is not None and message.sender_chat.id == message.chat.id


def pressed_key(message: Message, group_context: GroupContext, presser_id: int) -> ConversationKey:
    """The conversation a button under the bot's `message` acts on, for the person who pressed it:
    with one conversation per member, theirs (the message's own author is the bot)."""
    key = conversation_key(message, group_context)
    if is_group(message) and group_context == "user":
        return ConversationKey(chat_id=key.chat_id, thread_id=key.thread_id, user_id=presser_id)
    return key


def destination(message: Message, *, reply: bool) -> Destination:
    return Destination(
        chat_id=message.chat.id,
        is_group=is_group(message),
        thread_id=message.message_thread_id if message.is_topic_message else None,
        reply_to=message.message_id if reply else None,
    )


def language(user: User | None) -> Language:
    return language_of(user.language_code if user else None)


def display_name(user: User | None) -> str | None:
    """A user's name to show and to tell the model: one clean line (see core.display)."""
    if user is None:
        return None
    return clean_name(user.full_name) or (f"@{user.username}" if user.username else str(user.id))


def author_of(message: Message) -> str | None:
    """Who wrote a group message, by name: for an anonymous admin, the signature Telegram shows
    (if any) and that it is the group's admin — never the stand-in account's name."""
    if is_anonymous_admin(message):
        signature = clean_name(message.author_signature or "")
        return f"{signature} (group admin)" if signature else "anonymous group admin"
    if message.sender_chat is not None:
        return clean_name(message.sender_chat.title or "") or "a channel"
    return display_name(message.from_user)
