"""Last line of defence: log the failure (never show it), tell the user something short."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import ErrorEvent

from bot.core.models import Notice
from bot.storage.outage import is_storage_outage
from bot.telegram import texts
from bot.telegram.mappers import destination, language
from bot.telegram.services import BotServices

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, services: BotServices) -> None:
    log.error(
        "update %s failed: %s",
        event.update.update_id,
        type(event.exception).__name__,
        exc_info=event.exception,
    )
    query = event.update.callback_query
    if query is not None:
        try:  # the user's spinner stops, with a word of what happened
            await query.answer(texts.text(language(query.from_user), Notice.INTERNAL_ERROR), show_alert=True)
        except Exception:
            log.info("could not answer the failed button press")
        return
    message = event.update.message
    if message is None:
        return
    # Redis unreachable: the bot keeps running and reconnects by itself; the user may resend shortly.
    notice = Notice.STORAGE_UNAVAILABLE if is_storage_outage(event.exception) else Notice.INTERNAL_ERROR
    try:
        await services.answers.notify(destination(message, reply=True), language(message.from_user), notice)
    except Exception:
        log.exception("could not tell the user about the failure")


def setup() -> Router:
    router = Router(name="errors")
    router.errors.register(on_error)
    return router
