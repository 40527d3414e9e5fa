"""aiogram's reply models are built once per process (bot.telegram.session.KeepResponseModels), and calls
go out as JSON bodies carrying what aiogram's forms carried (bot.telegram.session.JsonBotSession)."""

from __future__ import annotations

import gc
import json
import urllib.parse
import weakref
from typing import Any, cast

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import (
    EditMessageText,
    Response,
    SendChatAction,
    SendDocument,
    SendMessage,
    SendRichMessageDraft,
    TelegramMethod,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputRichMessage,
    MessageEntity,
    ReplyParameters,
)

from bot.telegram.session import JsonBotSession, KeepResponseModels
from tests.fakes.telegram.server import TelegramFake


class _Method:
    """Stands for a Bot API method: only its result type matters here."""

    __returning__ = list[complex]  # a type no other test parses replies with


async def _reply(bot: Any, method: Any) -> Any:
    return None


def _reply_model_survives() -> bool:
    model = weakref.ref(Response[list[complex]])
    gc.collect()  # pydantic's own cache of generic models holds them weakly
    return model() is not None


async def test_a_reply_model_outlives_the_call_that_built_it() -> None:
    # Without the middleware the model does not survive a collection: it would be rebuilt next call.
    assert not _reply_model_survives()
    keep = KeepResponseModels()
    await keep(cast(Any, _reply), cast(Any, None), cast(Any, _Method()))
    assert keep.kept == 1
    assert _reply_model_survives()
    await keep(cast(Any, _reply), cast(Any, None), cast(Any, _Method()))
    assert keep.kept == 1


# -- JsonBotSession ------------------------------------------------------------------------------

MARKUP = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Stop", callback_data="stop:7")]])


def _form_fields(bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any]:
    """What aiogram's own form carries, each field decoded as the Bot API reads it (JSON if it is)."""
    form = AiohttpSession().build_form_data(bot, method)
    fields: dict[str, Any] = {}
    for name, value in urllib.parse.parse_qsl(form().decode(), keep_blank_values=True):
        try:
            fields[name] = json.loads(value)
        except ValueError:
            fields[name] = value
    return fields


@pytest.mark.parametrize(
    "method",
    [
        SendMessage(
            chat_id=-1001234,
            text="Привет & <b>100%</b> + ?=",
            entities=[MessageEntity(type="bold", offset=0, length=6)],
            message_thread_id=12,
            reply_parameters=ReplyParameters(message_id=5, allow_sending_without_reply=True),
            reply_markup=MARKUP,
        ),
        SendRichMessageDraft(
            chat_id=500, draft_id=7, rich_message=InputRichMessage(markdown="**x** y"), can_stop=True
        ),
        EditMessageText(chat_id=500, message_id=9, text="edited", entities=None, parse_mode=None),
        SendChatAction(chat_id=500, action="typing", message_thread_id=None),
    ],
    ids=lambda method: method.__api_method__,
)
async def test_a_json_body_carries_what_aiograms_form_carries(method: TelegramMethod[Any]) -> None:
    bot = Bot("1:TOKEN", session=JsonBotSession())
    try:
        body = bot.session.json_body(bot, method)  # type: ignore[attr-defined]
        assert body is not None
        assert json.loads(body) == _form_fields(bot, method)
    finally:
        await bot.session.close()


async def test_a_file_upload_keeps_the_multipart_form() -> None:
    bot = Bot("1:TOKEN", session=JsonBotSession())
    try:
        method = SendDocument(chat_id=500, document=BufferedInputFile(b"data", filename="h.md"))
        assert bot.session.json_body(bot, method) is None  # type: ignore[attr-defined]
    finally:
        await bot.session.close()


async def test_calls_replies_and_errors_against_the_fake(telegram_fake: TelegramFake) -> None:
    user = await telegram_fake.create_user("Ann", username="ann")
    chat_id = (await telegram_fake.create_private_chat(user))["id"]
    bot = Bot(
        telegram_fake.token, session=JsonBotSession(api=TelegramAPIServer.from_base(telegram_fake.base_url))
    )
    try:
        sent = await bot.send_message(chat_id, "Hello, *Ann* & co", reply_markup=MARKUP)
        assert (sent.chat.id, sent.text) == (chat_id, "Hello, *Ann* & co")
        assert sent.reply_markup is not None and sent.reply_markup.model_dump() == MARKUP.model_dump()
        assert sent.bot is bot  # bound to its bot, as aiogram's own parsing does
        assert await bot.send_message_draft(chat_id=chat_id, draft_id=3, text="draft") is True
        document = await bot.send_document(chat_id, BufferedInputFile(b"# notes", filename="notes.md"))
        assert document.document is not None and document.document.file_name == "notes.md"
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(999_999_999, "nobody")
        telegram_fake.fail_next(
            "sendMessage", error_code=429, description="Too Many Requests: retry after 7", retry_after=7
        )
        with pytest.raises(TelegramRetryAfter) as retry:
            await bot.send_message(chat_id, "too fast")
        assert retry.value.retry_after == 7
    finally:
        await bot.session.close()
