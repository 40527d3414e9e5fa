"""/usage: tokens used today by the user and the chat, against the daily budgets."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.core.models import Language
from bot.core.usage import Remaining
from bot.telegram import texts
from bot.telegram.mappers import destination, language
from bot.telegram.services import BotServices


def usage_text(remaining: Remaining, lang: Language) -> str:
    lines = [texts.text(lang, "usage_title")]
    user_used = _count(remaining.user_used, remaining.user_approximate)
    chat_used = _count(remaining.chat_used, remaining.chat_approximate)
    if remaining.user_limit:
        left = _count(max(0, remaining.user_limit - remaining.user_used), remaining.user_approximate)
        lines.append(texts.text(lang, "usage_user", used=user_used, limit=remaining.user_limit, left=left))
    else:
        lines.append(texts.text(lang, "usage_user_unlimited", used=user_used))
    if remaining.chat_limit:
        left = _count(max(0, remaining.chat_limit - remaining.chat_used), remaining.chat_approximate)
        lines.append(texts.text(lang, "usage_chat", used=chat_used, limit=remaining.chat_limit, left=left))
    else:
        lines.append(texts.text(lang, "usage_chat_unlimited", used=chat_used))
    if remaining.user_approximate or remaining.chat_approximate:
        lines.append(texts.text(lang, "usage_approximate"))
    if remaining.exempt:
        lines.append(texts.text(lang, "usage_exempt"))
    return "\n".join(lines)


def _count(tokens: int, approximate: bool) -> str:
    """A count of tokens; an estimate is marked with ≈."""
    return f"≈{tokens}" if approximate else str(tokens)


async def usage(message: Message, services: BotServices) -> None:
    user_id = message.from_user.id if message.from_user else None
    remaining = await services.usage.remaining(
        user_id, message.chat.id, exempt=services.access.is_admin(user_id)
    )
    text = usage_text(remaining, language(message.from_user))
    await services.sender.send_markdown(destination(message, reply=True), text, reply=True)


def setup() -> Router:
    router = Router(name="usage")
    router.message.register(usage, Command("usage"))
    return router
