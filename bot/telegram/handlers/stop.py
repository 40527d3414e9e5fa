"""Stopping an answer: the Stop button under a private draft (Bot API 10.3
`stopped_message_generation`), or the inline Stop button under an answer streamed by edits (asker or
group admin only)."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message, MessageGenerationStopped

from bot.core.models import Notice
from bot.telegram import texts
from bot.telegram.answers import STOP_CALLBACK_PREFIX
from bot.telegram.filters import InLoop
from bot.telegram.mappers import is_group, language
from bot.telegram.permissions import may_administer
from bot.telegram.services import BotServices

log = logging.getLogger(__name__)


async def stop_generation(event: MessageGenerationStopped, services: BotServices) -> None:
    if not services.active.stop(event.chat.id, event.draft_id):
        # Streaming on another replica (or already over): ask whichever replica runs it.
        await services.stops.request_stop(event.chat.id, event.draft_id)


async def stop_button(query: CallbackQuery, services: BotServices, bot: Bot) -> None:
    message = query.message
    lang = language(query.from_user)
    if not isinstance(message, Message) or query.data is None:
        await query.answer()
        return
    try:
        answer_id = int(query.data.removeprefix(STOP_CALLBACK_PREFIX))
    except ValueError:
        await query.answer()
        return
    running = services.active.get(message.chat.id, answer_id)
    if running is not None:
        asker_id = running.asker_id
    else:
        elsewhere, asker_id = await services.stops.lookup(message.chat.id, answer_id)
        if not elsewhere:
            await query.answer(texts.text(lang, "stop_too_late"))
            return
    allowed = asker_id == query.from_user.id or (
        is_group(message) and await may_administer(bot, services.access, message, query.from_user.id)
    )
    if not allowed:
        await query.answer(texts.text(lang, "stop_not_allowed"), show_alert=True)
        return
    if running is not None:
        running.stop.set()
    else:
        await services.stops.request_stop(message.chat.id, answer_id)
    await query.answer(texts.text(lang, Notice.ANSWER_STOPPED))


def setup() -> Router:
    router = Router(name="stop")
    router.stopped_message_generation.register(stop_generation)
    router.callback_query.register(stop_button, InLoop(F.data.startswith(STOP_CALLBACK_PREFIX)))
    return router
