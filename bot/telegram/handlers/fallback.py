"""Registered last: button presses no feature claimed (an older keyboard, data of a feature that is
gone) are answered, so the user's spinner stops, and otherwise ignored."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import CallbackQuery

log = logging.getLogger(__name__)


async def unknown_button(query: CallbackQuery) -> None:
    log.info("answered a press of a button no feature handles")
    await query.answer()


def setup() -> Router:
    router = Router(name="fallback")
    router.callback_query.register(unknown_button)
    return router
