"""Who may do what in a chat: group admins (by Telegram's word, or the operator's ADMIN_USER_IDS),
anonymous admins (a message sent on behalf of the group), everyone in a private chat.

Every check that asks Telegram answers "no" when Telegram cannot tell (a user it does not know, a
chat the bot left): a refusal the user can understand, never an error.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message

from bot.core.access import AccessPolicy
from bot.telegram.mappers import is_anonymous_admin, is_group

log = logging.getLogger(__name__)

ADMIN_STATUSES = frozenset({"creator", "administrator"})


async def is_group_admin(bot: Bot, access: AccessPolicy, chat_id: int, user_id: int | None) -> bool:
    if user_id is None:
        return False
    if access.is_admin(user_id):
        return True
    try:
        member = await bot.get_chat_member(chat_id, user_id)
    except TelegramAPIError as error:
        log.info("could not check a member's status: %s", type(error).__name__)
        return False
    return member.status in ADMIN_STATUSES


async def sent_by_admin(bot: Bot, access: AccessPolicy, message: Message) -> bool:
    """The message's sender may administer this chat: a group admin, an anonymous admin (Telegram
    only lets admins post on behalf of the group, so no `getChatMember` is needed — nor possible), or
    the user of a private chat."""
    if not is_group(message):
        return True
    if is_anonymous_admin(message):
        return True
    if message.sender_chat is not None:
        return False  # a channel posting into its discussion group
    user_id = message.from_user.id if message.from_user else None
    return await is_group_admin(bot, access, message.chat.id, user_id)


async def may_administer(bot: Bot, access: AccessPolicy, message: Message, user_id: int) -> bool:
    """`user_id` (who pressed a button under `message`) may administer the message's chat."""
    if not is_group(message):
        return True
    return await is_group_admin(bot, access, message.chat.id, user_id)
