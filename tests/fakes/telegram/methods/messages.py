"""Sending, editing and deleting messages; documents; chat actions; callback query answers.

Checks run in the server's order as far as a bot can tell: parameters (text, entities, markup) first, then
the chat (exists / upgraded / blocked / kicked), then reply and thread targets, then flood control; only a
request that passes everything changes state.
"""

from __future__ import annotations

import mimetypes
import time
from typing import TYPE_CHECKING, Any

from tests.fakes.telegram import errors
from tests.fakes.telegram.errors import BotApiError, bad_request
from tests.fakes.telegram.models import (
    ADMINISTRATOR,
    CREATOR,
    PRIVATE,
    MessageVersion,
    StoredMessage,
    content_key,
)
from tests.fakes.telegram.params import Params, UploadedFile
from tests.fakes.telegram.rich import RichContent, parse_rich_message
from tests.fakes.telegram.text import utf16_len

from .common import (
    Handler,
    formatted_text,
    inline_keyboard,
    reply_markup,
    reply_target,
    send_thread,
    text_content,
    thread_id,
)

if TYPE_CHECKING:
    from tests.fakes.telegram.core import FakeBotApi

MAX_CALLBACK_ANSWER_LENGTH = 200  # answerCallbackQuery: "Text of the notification ... 0-200 characters"
CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
    }
)  # fmt: skip


async def send_message(api: FakeBotApi, params: Params) -> dict[str, Any]:
    text, entities = formatted_text(api, params, max_length=api.config.max_text_length)
    return _send(api, "sendMessage", params, text_content(text, entities), rich=None)


async def send_rich_message(api: FakeBotApi, params: Params) -> dict[str, Any]:
    rich = parse_rich_message(
        params.json("rich_message"), max_length=api.config.max_rich_length, allow_empty=False
    )
    return _send(api, "sendRichMessage", params, {"rich_message": rich.to_message_field()}, rich=rich)


async def send_document(api: FakeBotApi, params: Params) -> dict[str, Any]:
    caption, caption_entities = formatted_text(
        api,
        params,
        text_field="caption",
        entities_field="caption_entities",
        allow_empty=True,
        max_length=api.config.max_caption_length,
        too_long=errors.CAPTION_TOO_LONG,
    )
    document = params.file("document")
    if document is None or document == "":
        raise bad_request(errors.PARAMETER_EMPTY.format(name="document"))
    if isinstance(document, UploadedFile):
        if len(document.content) > api.config.max_upload_size:
            raise BotApiError(413, "Request Entity Too Large")
        file_name = document.filename or "document"
        mime_type = document.content_type
        if not mime_type or mime_type == "application/octet-stream":
            mime_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = api.state.store_file(
            kind="document", file_name=file_name, mime_type=mime_type, content=document.content
        )
    else:
        known = api.state.files.get(document)
        if known is None:
            raise bad_request(errors.WRONG_FILE_IDENTIFIER)
        stored = known
    content: dict[str, Any] = {"document": stored.document_api()}
    if caption:
        content.update(text_content(caption, caption_entities, field="caption"))
    return _send(api, "sendDocument", params, content, rich=None)


def _send(
    api: FakeBotApi, method: str, params: Params, content: dict[str, Any], *, rich: RichContent | None
) -> dict[str, Any]:
    markup = reply_markup(params)
    chat = api.state.chat_for_bot(params.chat_id())
    reply_to = reply_target(api, chat, params)
    thread = send_thread(api, chat, params, reply_to)
    api.limiter.check_send(method, chat.id, is_group=chat.is_group)
    message = api.state.add_message(
        chat,
        api.state.bot_user(),
        content,
        rich=rich,
        reply_markup=markup,
        thread_id=thread,
        reply_to_message_id=reply_to,
    )
    return api.state.render_message(message)


async def edit_message_text(api: FakeBotApi, params: Params) -> dict[str, Any]:
    # A server without rich messages (rich_supported=False) does not know the parameter and ignores it.
    raw_rich = params.json("rich_message") if api.config.rich_supported else None
    rich: RichContent | None = None
    if raw_rich is not None:
        rich = parse_rich_message(raw_rich, max_length=api.config.max_rich_length, allow_empty=False)
        content = {"rich_message": rich.to_message_field()}
    else:
        text, entities = formatted_text(api, params, max_length=api.config.max_text_length)
        content = text_content(text, entities)
    markup = inline_keyboard(params)
    message = _message_to_edit(api, params)
    if "text" not in message.content and message.rich is None:
        raise bad_request(errors.NO_TEXT_TO_EDIT)
    if content_key(content, rich) == message.content_key and markup == message.reply_markup:
        raise bad_request(errors.MESSAGE_NOT_MODIFIED)
    api.limiter.check_send("editMessageText", message.chat.id, is_group=message.chat.is_group)
    _apply_edit(message, content, rich, markup)
    return api.state.render_message(message)


async def edit_message_reply_markup(api: FakeBotApi, params: Params) -> dict[str, Any]:
    markup = inline_keyboard(params)
    message = _message_to_edit(api, params)
    if markup == message.reply_markup:
        raise bad_request(errors.MESSAGE_NOT_MODIFIED)
    api.limiter.check_send("editMessageReplyMarkup", message.chat.id, is_group=message.chat.is_group)
    _apply_edit(message, message.content, message.rich, markup)
    return api.state.render_message(message)


def _message_to_edit(api: FakeBotApi, params: Params) -> StoredMessage:
    if "inline_message_id" in params:
        raise bad_request(errors.MESSAGE_TO_EDIT_NOT_FOUND)  # inline messages are not modelled
    chat = api.state.chat_for_bot(params.chat_id())
    message = api.state.find_message(chat, params.integer("message_id", required=True))
    if message is None:
        raise bad_request(errors.MESSAGE_TO_EDIT_NOT_FOUND)
    if message.sender is None or message.sender.id != api.config.bot_id:
        raise bad_request(errors.MESSAGE_CANT_BE_EDITED)
    return message


def _apply_edit(
    message: StoredMessage, content: dict[str, Any], rich: RichContent | None, markup: dict[str, Any] | None
) -> None:
    """Replace the message's content (editing text never keeps an inline keyboard that is not resent)."""
    kept = {k: v for k, v in message.content.items() if k not in ("text", "entities", "rich_message")}
    message.content = {**kept, **content}
    message.rich = rich
    message.reply_markup = markup
    message.edit_date = int(time.time())
    message.versions.append(MessageVersion(dict(message.content), rich, markup, time.time()))


async def delete_message(api: FakeBotApi, params: Params) -> bool:
    chat = api.state.chat_for_bot(params.chat_id())
    message = api.state.find_message(chat, params.integer("message_id", required=True))
    if message is None:
        raise bad_request(errors.MESSAGE_TO_DELETE_NOT_FOUND)
    by_bot = message.sender is not None and message.sender.id == api.config.bot_id
    bot_is_admin = chat.status_of(api.config.bot_id) in (CREATOR, ADMINISTRATOR)
    if not (by_bot or chat.type == PRIVATE or bot_is_admin):
        raise bad_request(errors.MESSAGE_CANT_BE_DELETED)
    message.deleted = True
    return True


async def send_chat_action(api: FakeBotApi, params: Params) -> bool:
    action = params.string("action", required=True)
    if action not in CHAT_ACTIONS:
        raise bad_request(errors.WRONG_CHAT_ACTION)
    chat = api.state.chat_for_bot(params.chat_id())
    thread = thread_id(api, chat, params)
    api.state.chat_actions.setdefault(chat.id, []).append(
        {"action": action, "message_thread_id": thread, "at": time.time()}
    )
    return True


async def answer_callback_query(api: FakeBotApi, params: Params) -> bool:
    query = api.state.callback_queries.get(params.string("callback_query_id", required=True) or "")
    too_old = query is None or time.time() - query.created_at > api.config.callback_answer_timeout_s
    if query is None or too_old or query.answer is not None:
        raise bad_request(errors.QUERY_TOO_OLD)
    text = params.string("text")
    if text is not None and utf16_len(text) > MAX_CALLBACK_ANSWER_LENGTH:
        raise bad_request(errors.CALLBACK_ANSWER_TOO_LONG)
    query.answer = {
        "text": text,
        "show_alert": params.boolean("show_alert"),
        "url": params.string("url"),
        "cache_time": params.integer("cache_time"),
        "at": time.time(),
    }
    return True


HANDLERS: dict[str, Handler] = {
    "sendMessage": send_message,
    "sendRichMessage": send_rich_message,
    "sendDocument": send_document,
    "editMessageText": edit_message_text,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "deleteMessage": delete_message,
    "sendChatAction": send_chat_action,
    "answerCallbackQuery": answer_callback_query,
}
