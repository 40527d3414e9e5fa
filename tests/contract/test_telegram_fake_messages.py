"""Contract: the Telegram fake's messaging methods, driven by the real aiogram client over HTTP."""

from __future__ import annotations

import io
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramNotFound
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputRichMessage,
    MessageEntity,
    ReplyParameters,
)

from tests.fakes.telegram import errors
from tests.fakes.telegram.server import TelegramFake

KEYBOARD = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="More", callback_data="more")]])


def spans(entities: list[MessageEntity] | None) -> list[tuple[str, int, int]]:
    return [(e.type, e.offset, e.length) for e in entities or []]


async def private_chat(fake: TelegramFake, name: str = "Ann") -> tuple[dict[str, Any], int]:
    user = await fake.create_user(name, username=f"{name.lower()}_user")
    chat = await fake.create_private_chat(user)
    return user, chat["id"]


async def test_get_me_describes_the_configured_bot(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    me = await tg_bot.get_me()
    assert (me.id, me.username, me.is_bot) == (telegram_fake.config.bot_id, "test_assistant_bot", True)


async def test_send_message_parses_html_into_utf16_entities(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    _, chat_id = await private_chat(telegram_fake)
    sent = await tg_bot.send_message(
        chat_id, "😀 <b>bold</b> &amp; <a href='https://example.com'>link</a>", parse_mode="HTML"
    )
    assert sent.text == "😀 bold & link"
    assert sent.from_user is not None and sent.from_user.id == telegram_fake.config.bot_id
    assert spans(sent.entities) == [("bold", 3, 4), ("text_link", 10, 4)]
    assert sent.entities is not None and sent.entities[1].url == "https://example.com/"
    [record] = telegram_fake.bot_messages(chat_id)
    assert record["text"] == "😀 bold & link" and record["message_id"] == sent.message_id


async def test_explicit_entities_are_kept_and_bounds_checked(
    telegram_fake: TelegramFake, tg_bot: Bot
) -> None:
    _, chat_id = await private_chat(telegram_fake)
    sent = await tg_bot.send_message(
        chat_id, "hello world", entities=[MessageEntity(type="italic", offset=6, length=5)], parse_mode=None
    )
    assert spans(sent.entities) == [("italic", 6, 5)]
    with pytest.raises(TelegramBadRequest) as caught:
        await tg_bot.send_message(
            chat_id, "😀 hi", entities=[MessageEntity(type="bold", offset=2, length=4)], parse_mode=None
        )
    assert caught.value.message == (
        "Bad Request: can't parse entities: Entity beginning at UTF-16 offset 2 ends after the end of the text "
        "at UTF-16 offset 6"
    )


async def test_text_is_trimmed_and_empty_text_is_rejected(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    _, chat_id = await private_chat(telegram_fake)
    sent = await tg_bot.send_message(chat_id, "  \n<b>hi</b>\n  ", parse_mode="HTML")
    assert sent.text == "hi"
    assert spans(sent.entities) == [("bold", 0, 2)]
    for text in ("", "  \n ", "<b> </b>"):
        with pytest.raises(TelegramBadRequest) as caught:
            await tg_bot.send_message(chat_id, text, parse_mode="HTML")
        assert caught.value.message == errors.MESSAGE_TEXT_EMPTY


async def test_length_limit_counts_utf16_units(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    telegram_fake.config.rate_limits_enabled = False
    _, chat_id = await private_chat(telegram_fake)
    await tg_bot.send_message(chat_id, "😀" * 2048)  # 2048 code points = 4096 UTF-16 units: fits
    with pytest.raises(TelegramBadRequest) as caught:
        await tg_bot.send_message(chat_id, "😀" * 2048 + "!")
    assert caught.value.message == "Bad Request: message is too long"
    sent = await tg_bot.send_message(chat_id, "x")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await tg_bot.edit_message_text("a" * 4097, chat_id=chat_id, message_id=sent.message_id)


async def test_unsupported_parse_mode(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    _, chat_id = await private_chat(telegram_fake)
    with pytest.raises(TelegramBadRequest) as caught:
        await tg_bot.send_message(chat_id, "*hi*", parse_mode="MarkdownV2")
    assert caught.value.message == errors.UNSUPPORTED_PARSE_MODE


async def test_replies_need_an_existing_message(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user, chat_id = await private_chat(telegram_fake)
    question = await telegram_fake.send_user_message(chat_id, user, "question?")
    answer = await tg_bot.send_message(
        chat_id, "answer", reply_parameters=ReplyParameters(message_id=question["message_id"])
    )
    assert answer.reply_to_message is not None and answer.reply_to_message.text == "question?"
    assert telegram_fake.bot_messages(chat_id)[0]["reply_to_message_id"] == question["message_id"]

    with pytest.raises(TelegramBadRequest) as caught:
        await tg_bot.send_message(chat_id, "x", reply_parameters=ReplyParameters(message_id=999))
    assert caught.value.message == "Bad Request: message to be replied not found"
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await tg_bot.send_message(chat_id, "x", reply_to_message_id=999)
    lenient = await tg_bot.send_message(
        chat_id, "x", reply_parameters=ReplyParameters(message_id=999, allow_sending_without_reply=True)
    )
    assert lenient.reply_to_message is None


async def test_edit_message_text_keeps_history_and_errors(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user, chat_id = await private_chat(telegram_fake)
    sent = await tg_bot.send_message(chat_id, "v1", reply_markup=KEYBOARD)
    edited = await tg_bot.edit_message_text(
        "<i>v2</i>", chat_id=chat_id, message_id=sent.message_id, parse_mode="HTML"
    )
    assert isinstance(edited, type(sent)) and edited.text == "v2" and edited.edit_date is not None
    assert edited.reply_markup is None  # an edit without reply_markup removes the inline keyboard

    with pytest.raises(TelegramBadRequest) as caught:
        await tg_bot.edit_message_text(
            "<i>v2</i>", chat_id=chat_id, message_id=sent.message_id, parse_mode="HTML"
        )
    assert caught.value.message == errors.MESSAGE_NOT_MODIFIED
    await tg_bot.edit_message_text(
        "v2", chat_id=chat_id, message_id=sent.message_id
    )  # entities differ: modified

    with pytest.raises(TelegramBadRequest) as caught:
        await tg_bot.edit_message_text("x", chat_id=chat_id, message_id=12345)
    assert caught.value.message == "Bad Request: message to edit not found"
    users_message = await telegram_fake.send_user_message(chat_id, user, "mine")
    with pytest.raises(TelegramBadRequest) as caught:
        await tg_bot.edit_message_text("x", chat_id=chat_id, message_id=users_message["message_id"])
    assert caught.value.message == "Bad Request: message can't be edited"

    [record] = telegram_fake.bot_messages(chat_id)
    assert [v["text"] for v in record["versions"]] == ["v1", "v2", "v2"]
    assert record["versions"][1]["entities"] == [{"type": "italic", "offset": 0, "length": 2}]
    assert record["versions"][0]["reply_markup"] == KEYBOARD.model_dump(exclude_none=True)
    assert record["versions"][0]["at"] <= record["versions"][1]["at"] <= record["versions"][2]["at"]


async def test_edit_reply_markup_and_delete(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    _, chat_id = await private_chat(telegram_fake)
    sent = await tg_bot.send_message(chat_id, "pick")
    edited = await tg_bot.edit_message_reply_markup(
        chat_id=chat_id, message_id=sent.message_id, reply_markup=KEYBOARD
    )
    assert not isinstance(edited, bool) and edited.reply_markup is not None
    assert edited.reply_markup.inline_keyboard[0][0].callback_data == "more"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await tg_bot.edit_message_reply_markup(
            chat_id=chat_id, message_id=sent.message_id, reply_markup=KEYBOARD
        )

    assert await tg_bot.delete_message(chat_id, sent.message_id) is True
    assert telegram_fake.bot_messages(chat_id)[0]["deleted"] is True
    with pytest.raises(TelegramBadRequest) as caught:
        await tg_bot.delete_message(chat_id, sent.message_id)
    assert caught.value.message == "Bad Request: message to delete not found"
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await tg_bot.edit_message_text("x", chat_id=chat_id, message_id=sent.message_id)


async def test_inline_keyboards_are_validated(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    _, chat_id = await private_chat(telegram_fake)
    too_long = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="d" * 65)]]
    )
    with pytest.raises(TelegramBadRequest) as caught:
        await tg_bot.send_message(chat_id, "x", reply_markup=too_long)
    assert caught.value.message == "Bad Request: BUTTON_DATA_INVALID"


async def test_rich_messages_send_edit_and_limits(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    _, chat_id = await private_chat(telegram_fake)
    markdown = "# Title\n\nSome **bold** text.\n\n```python\nprint(1)\n```"
    sent = await tg_bot.send_rich_message(chat_id, rich_message=InputRichMessage(markdown=markdown))
    assert sent.rich_message is not None
    assert [block.type for block in sent.rich_message.blocks] == ["heading", "paragraph", "pre"]

    edited = await tg_bot.edit_message_text(
        chat_id=chat_id, message_id=sent.message_id, rich_message=InputRichMessage(markdown="Updated")
    )
    assert not isinstance(edited, bool) and edited.rich_message is not None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await tg_bot.edit_message_text(
            chat_id=chat_id, message_id=sent.message_id, rich_message=InputRichMessage(markdown="Updated")
        )
    [record] = telegram_fake.bot_messages(chat_id)
    assert record["rich_markdown"] == "Updated" and record["text"] is None
    assert [v["rich_markdown"] for v in record["versions"]] == [markdown, "Updated"]

    telegram_fake.config.rate_limits_enabled = False
    await tg_bot.send_rich_message(chat_id, rich_message=InputRichMessage(markdown="x" * 32768))
    with pytest.raises(TelegramBadRequest) as caught:
        await tg_bot.send_rich_message(chat_id, rich_message=InputRichMessage(markdown="x" * 32769))
    assert caught.value.message == "Bad Request: message is too long"
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await tg_bot.send_rich_message(chat_id, rich_message=InputRichMessage(markdown=""))


async def test_rich_supported_flag_acts_like_an_older_server(
    telegram_fake: TelegramFake, tg_bot: Bot
) -> None:
    _, chat_id = await private_chat(telegram_fake)
    sent = await tg_bot.send_message(chat_id, "plain")
    telegram_fake.config.rich_supported = False
    with pytest.raises(TelegramNotFound) as caught:
        await tg_bot.send_rich_message(chat_id, rich_message=InputRichMessage(markdown="x"))
    assert caught.value.message == "Not Found: method not found"
    with pytest.raises(TelegramBadRequest, match="message text is empty"):  # rich_message is ignored
        await tg_bot.edit_message_text(
            chat_id=chat_id, message_id=sent.message_id, rich_message=InputRichMessage(markdown="x")
        )


async def test_documents_upload_get_file_and_download(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user, chat_id = await private_chat(telegram_fake)
    sent = await tg_bot.send_document(
        chat_id,
        BufferedInputFile(b"report body", filename="report.txt"),
        caption="<b>Report</b>",
        parse_mode="HTML",
    )
    assert sent.document is not None and sent.document.file_name == "report.txt"
    assert sent.document.file_size == 11 and sent.document.mime_type == "text/plain"
    assert sent.caption == "Report" and spans(sent.caption_entities) == [("bold", 0, 6)]
    assert telegram_fake.bot_messages(chat_id)[0]["document"]["file_name"] == "report.txt"
    assert telegram_fake.calls("sendDocument")[0]["params"]["document"] == {
        "file_name": "report.txt",
        "size": 11,
    }

    incoming = await telegram_fake.send_user_message(
        chat_id, user, document={"file_name": "notes.md", "mime_type": "text/markdown", "content": b"# Notes"}
    )
    file = await tg_bot.get_file(incoming["document"]["file_id"])
    assert file.file_path is not None and file.file_size == 7
    destination = io.BytesIO()
    await tg_bot.download_file(file.file_path, destination=destination)
    assert destination.getvalue() == b"# Notes"
    resent = await tg_bot.send_document(chat_id, incoming["document"]["file_id"])
    assert resent.document is not None and resent.document.file_id == incoming["document"]["file_id"]


async def test_get_file_refuses_files_over_the_download_limit(
    telegram_fake: TelegramFake, tg_bot: Bot
) -> None:
    user, chat_id = await private_chat(telegram_fake)
    huge = await telegram_fake.send_user_message(
        chat_id,
        user,
        document={"file_name": "big.pdf", "mime_type": "application/pdf", "size": 25 * 1024 * 1024},
    )
    assert huge["document"]["file_size"] == 25 * 1024 * 1024
    with pytest.raises(TelegramBadRequest) as caught:
        await tg_bot.get_file(huge["document"]["file_id"])
    assert caught.value.message == "Bad Request: file is too big"
    telegram_fake.config.max_download_size = 30 * 1024 * 1024
    assert (await tg_bot.get_file(huge["document"]["file_id"])).file_size == 25 * 1024 * 1024


async def test_chat_actions_are_recorded(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    _, chat_id = await private_chat(telegram_fake)
    assert await tg_bot.send_chat_action(chat_id, "typing") is True
    assert [a["action"] for a in telegram_fake.chat_actions(chat_id)] == ["typing"]
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await tg_bot.send_chat_action(chat_id, "dancing")


async def test_inline_button_press_and_callback_answer(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user, chat_id = await private_chat(telegram_fake)
    sent = await tg_bot.send_message(chat_id, "menu", reply_markup=KEYBOARD)
    query_id = await telegram_fake.press_button(chat_id, sent.message_id, "more", user=user)
    [update] = await tg_bot.get_updates()
    assert update.callback_query is not None and update.callback_query.id == query_id
    assert update.callback_query.data == "more" and update.callback_query.from_user.id == user["id"]
    assert (
        update.callback_query.message is not None
        and update.callback_query.message.message_id == sent.message_id
    )

    assert await tg_bot.answer_callback_query(query_id, text="Loading…") is True
    assert telegram_fake.callback_answers()[0]["answer"]["text"] == "Loading…"
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await tg_bot.answer_callback_query(query_id)


async def test_commands_per_scope_and_language(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    await tg_bot.set_my_commands([BotCommand(command="new", description="Start over")])
    await tg_bot.set_my_commands(
        [BotCommand(command="docs", description="Документы")],
        scope=BotCommandScopeAllPrivateChats(),
        language_code="ru",
    )
    assert [c.command for c in await tg_bot.get_my_commands()] == ["new"]
    ru = await tg_bot.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="ru")
    assert [c.description for c in ru] == ["Документы"]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await tg_bot.set_my_commands([BotCommand(command="Bad-Command", description="x")])
    assert await tg_bot.delete_my_commands()
    assert await tg_bot.get_my_commands() == []


async def test_blocked_user_and_unknown_chat(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user, chat_id = await private_chat(telegram_fake)
    await telegram_fake.block_bot(user["id"])
    with pytest.raises(TelegramForbiddenError) as caught:
        await tg_bot.send_message(chat_id, "hello?")
    assert caught.value.message == "Forbidden: bot was blocked by the user"
    [update] = await tg_bot.get_updates()
    assert update.my_chat_member is not None and update.my_chat_member.new_chat_member.status == "kicked"
    await telegram_fake.unblock_bot(user["id"])
    await tg_bot.send_message(chat_id, "welcome back")

    with pytest.raises(TelegramBadRequest) as not_found:
        await tg_bot.send_message(-42, "x")
    assert not_found.value.message == "Bad Request: chat not found"


async def test_get_chat_and_members_in_private_chat(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user, chat_id = await private_chat(telegram_fake)
    chat = await tg_bot.get_chat(chat_id)
    assert (chat.type, chat.first_name) == ("private", "Ann")
    member = await tg_bot.get_chat_member(chat_id, user["id"])
    assert member.status == "member" and member.user.id == user["id"]
    with pytest.raises(TelegramBadRequest, match="no administrators in the private chat"):
        await tg_bot.get_chat_administrators(chat_id)
