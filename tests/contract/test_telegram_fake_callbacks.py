"""Contract: the documented 0-200 characters of a callback answer's text."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from tests.fakes.telegram.server import TelegramFake

KEYBOARD = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="More", callback_data="more")]])


async def test_a_callback_answer_holds_at_most_200_characters(
    telegram_fake: TelegramFake, tg_bot: Bot
) -> None:
    user = await telegram_fake.create_user("Ann")
    chat_id = (await telegram_fake.create_private_chat(user))["id"]
    sent = await tg_bot.send_message(chat_id, "menu", reply_markup=KEYBOARD)
    first = await telegram_fake.press_button(chat_id, sent.message_id, "more", user=user)
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await tg_bot.answer_callback_query(first, text="x" * 201)
    assert await tg_bot.answer_callback_query(first, text="😀" * 100) is True  # 200 UTF-16 units
