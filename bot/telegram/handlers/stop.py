"""The Stop button under a streamed draft (Bot API 10.3 `stopped_message_generation`)."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import MessageGenerationStopped

from bot.telegram.services import BotServices

log = logging.getLogger(__name__)


async def stop_generation(event: MessageGenerationStopped, services: BotServices) -> None:
    if not services.active.stop(event.chat.id, event.draft_id):
        log.info("stop for an answer that already ended (chat %s)", event.chat.id)


def setup() -> Router:
    router = Router(name="stop")
    router.stopped_message_generation.register(stop_generation)
    return router
