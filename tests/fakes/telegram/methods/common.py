"""Helpers shared by the Bot API method handlers: formatted text, keyboards, replies and threads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tests.fakes.telegram import errors
from tests.fakes.telegram.errors import bad_request
from tests.fakes.telegram.html import parse_html
from tests.fakes.telegram.models import Chat
from tests.fakes.telegram.params import Params
from tests.fakes.telegram.text import Entity, finalize_text, utf16_len, validate_entities

if TYPE_CHECKING:
    from tests.fakes.telegram.core import FakeBotApi

Handler = Callable[["FakeBotApi", Params], Awaitable[Any]]

_BUTTON_ACTIONS = frozenset(
    {
        "url", "callback_data", "web_app", "login_url", "switch_inline_query", "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat", "copy_text", "callback_game", "pay",
    }
)  # fmt: skip


def formatted_text(
    api: FakeBotApi,
    params: Params,
    *,
    text_field: str = "text",
    entities_field: str = "entities",
    allow_empty: bool = False,
    max_length: int,
    too_long: str = errors.MESSAGE_TOO_LONG,
) -> tuple[str, list[Entity]]:
    """Text + entities after parse_mode/entities handling, trimming and the length limit (UTF-16 units).

    Like the real server, a non-empty `parse_mode` wins over `entities`.
    """
    text = params.string(text_field) or ""
    parse_mode = (params.string("parse_mode") or "").lower()
    if parse_mode and parse_mode != "none":
        if parse_mode != "html":
            raise bad_request(errors.UNSUPPORTED_PARSE_MODE)
        lookup = api.state.find_user
        text, entities = parse_html(
            text,
            strict_ampersand=api.config.strict_html_ampersand,
            lookup_user=lambda user_id: user.to_api() if (user := lookup(user_id)) else None,
        )
    elif entities_field in params:
        entities = validate_entities(params.json(entities_field))
    else:
        entities = []
    text, entities = finalize_text(text, entities, allow_empty=allow_empty)
    if utf16_len(text) > max_length:
        raise bad_request(too_long)
    return text, entities


def text_content(text: str, entities: list[Entity], *, field: str = "text") -> dict[str, Any]:
    content: dict[str, Any] = {field: text}
    if entities:
        content["entities" if field == "text" else f"{field}_entities"] = entities
    return content


def inline_keyboard(params: Params) -> dict[str, Any] | None:
    """An InlineKeyboardMarkup (edits accept only these); validated like the server does."""
    markup = reply_markup(params)
    if markup is not None and "inline_keyboard" not in markup:
        raise bad_request(errors.JSON_INVALID.format(name="inline keyboard markup"))
    return markup


def reply_markup(params: Params) -> dict[str, Any] | None:
    markup = params.json("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request(errors.JSON_INVALID.format(name="reply keyboard markup"))
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup  # reply keyboards, ForceReply, ReplyKeyboardRemove: accepted as given
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(errors.JSON_INVALID.format(name="inline keyboard markup"))
    for button in (button for row in rows for button in row):
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            raise bad_request(errors.JSON_INVALID.format(name="inline keyboard button"))
        if not _BUTTON_ACTIONS & button.keys():
            raise bad_request(errors.TEXT_BUTTONS_UNALLOWED)
        if "callback_data" in button and not 1 <= len(str(button["callback_data"]).encode()) <= 64:
            raise bad_request(errors.BUTTON_DATA_INVALID)
    return markup


def thread_id(api: FakeBotApi, chat: Chat, params: Params) -> int | None:
    value = params.integer("message_thread_id")
    api.state.check_thread(chat, value)
    return value


def reply_target(api: FakeBotApi, chat: Chat, params: Params) -> int | None:
    """The message being replied to (reply_parameters or the legacy reply_to_message_id), if it exists.

    An unknown target fails with "message to be replied not found" unless allow_sending_without_reply.
    """
    reply = params.json("reply_parameters")
    if isinstance(reply, dict) and reply.get("message_id") is not None:
        message_id = reply.get("message_id")
        allow_without = bool(reply.get("allow_sending_without_reply"))
        other_chat = reply.get("chat_id")
        if other_chat is not None and other_chat != chat.id:
            message_id = None  # replies to other chats are not modelled: treated as missing
    else:
        message_id = params.integer("reply_to_message_id")
        allow_without = params.boolean("allow_sending_without_reply")
        if message_id is None:
            return None
    target = api.state.find_message(chat, message_id if isinstance(message_id, int) else None)
    if target is None:
        if allow_without:
            return None
        raise bad_request(errors.REPLIED_MESSAGE_NOT_FOUND)
    return target.message_id


def send_thread(api: FakeBotApi, chat: Chat, params: Params, reply_to: int | None) -> int | None:
    """The thread a new bot message goes to: the given one, or the replied message's forum topic."""
    given = thread_id(api, chat, params)
    if given is not None or reply_to is None or not chat.is_forum:
        return given
    replied = chat.messages[reply_to]
    return replied.thread_id if replied.is_topic_message else None
