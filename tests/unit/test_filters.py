"""Deciding whether a group message is addressed to the bot; filters checked in the event loop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from aiogram import F
from aiogram.types import Chat, Message, MessageEntity, User

from bot.telegram.dispatcher import build_dispatcher
from bot.telegram.filters import InLoop, is_reply_to_bot, strip_mentions
from bot.telegram.services import BotServices

ME = User(id=42, is_bot=True, first_name="Assistant", username="helper_bot")
ANN = User(id=7, is_bot=False, first_name="Ann")
GROUP = Chat(id=-100123, type="supergroup", is_forum=True)
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def message(
    text: str,
    *,
    entities: list[MessageEntity] | None = None,
    reply_to_message: Message | None = None,
    message_thread_id: int | None = None,
    is_topic_message: bool | None = None,
) -> Message:
    return Message(
        message_id=10,
        date=NOW,
        chat=GROUP,
        from_user=ANN,
        text=text,
        entities=entities,
        reply_to_message=reply_to_message,
        message_thread_id=message_thread_id,
        is_topic_message=is_topic_message,
    )


def test_mention_is_stripped_with_utf16_offsets() -> None:
    text = "🙂 @helper_bot, what's new?"
    mention = MessageEntity(type="mention", offset=3, length=11)  # the emoji is two UTF-16 units
    addressed, question = strip_mentions(message(text, entities=[mention]), ME)
    assert addressed
    assert question == "🙂 what's new?"


def test_mentions_of_other_users_do_not_count() -> None:
    other = MessageEntity(type="mention", offset=0, length=6)
    assert strip_mentions(message("@other hi", entities=[other]), ME) == (False, "@other hi")


def test_text_mention_of_the_bot_counts() -> None:
    entity = MessageEntity(type="text_mention", offset=0, length=9, user=ME)
    assert strip_mentions(message("Assistant help me", entities=[entity]), ME) == (True, "help me")


def test_a_reply_to_the_bot_counts_but_not_the_implicit_reply_of_a_topic() -> None:
    bot_message = Message(message_id=5, date=NOW, chat=GROUP, from_user=ME, text="earlier answer")
    explicit = message("and then?", reply_to_message=bot_message)
    assert is_reply_to_bot(explicit, ME)
    topic_root = Message(message_id=3, date=NOW, chat=GROUP, from_user=ME, text="topic created")
    implicit = message("chatter", reply_to_message=topic_root, message_thread_id=3, is_topic_message=True)
    assert not is_reply_to_bot(implicit, ME)
    to_ann = Message(message_id=6, date=NOW, chat=GROUP, from_user=ANN, text="hi")
    assert not is_reply_to_bot(message("hey", reply_to_message=to_ann), ME)


def test_only_the_mention_goes_lines_and_indentation_stay() -> None:
    def stripped(text: str) -> str:
        start = text.index("@helper_bot")
        mention = MessageEntity(type="mention", offset=len(text[:start].encode("utf-16-le")) // 2, length=11)
        return strip_mentions(message(text, entities=[mention]), ME)[1]

    assert (
        stripped("@helper_bot why?\n```\ndef f():\n    return 1\n```")
        == "why?\n```\ndef f():\n    return 1\n```"
    )
    assert stripped("please @helper_bot explain\n  this") == "please explain\n  this"
    assert stripped("@helper_bot\n    indented = True\n") == "    indented = True"
    assert stripped("- one\n- two @helper_bot") == "- one\n- two"


def test_no_filter_or_handler_of_the_dispatcher_is_run_in_a_thread() -> None:
    """aiogram runs a filter or handler that is not a coroutine function (a bare `F...` included)
    through `asyncio.to_thread`; the bot's are all checked in the event loop (bot.telegram.filters.InLoop)."""
    dispatcher = build_dispatcher(cast(BotServices, object()))
    threaded: list[str] = []
    checked = 0
    for router in dispatcher.chain_tail:
        for name, observer in router.observers.items():
            for handler in observer.handlers:
                for callable_object in [handler, *(handler.filters or [])]:
                    checked += 1
                    if not callable_object.awaitable:
                        threaded.append(f"{router.name}.{name}: {callable_object.callback!r}")
            for router_filter in observer._handler.filters or []:
                checked += 1
                if not router_filter.awaitable:
                    threaded.append(f"{router.name}.{name} (router filter): {router_filter.callback!r}")
    assert checked > 50  # every router's handlers and filters were looked at
    assert threaded == []


async def test_a_magic_filter_checked_in_the_loop_answers_as_the_magic_filter() -> None:
    photo_less = message("hello")
    command = message("/help")
    for magic in (
        F.text,
        F.text.startswith("/"),
        ~F.text.startswith("/"),
        F.chat.type == "supergroup",
        F.voice,
    ):
        for event in (photo_less, command):
            assert await InLoop(magic)(event) == magic.resolve(event)
