"""Telegram failing under the bot, end to end: 5xx and 429 on sends and edits in a group answer, and
timeouts (injected in the bot's own HTTP session, since the fake answers at once). Whatever fails, the
final answer is delivered exactly once and complete."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import ConnectionTimeoutError

from tests.e2e.harness import Stack, final_texts
from tests.e2e.settling import until_idle

BOT = "@test_assistant_bot"
QUESTION = "tell me about herons emu:long=1000"


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


async def group(stack: Stack) -> tuple[int, dict[str, Any]]:
    ann = await stack.telegram.create_user("Ann", username="ann", language_code="en")
    stack.yandex.config.chars_per_second = 120  # about 8 s of streaming: a first send, edits, a final edit
    chat = await stack.telegram.create_group("Team", supergroup=True, members=[ann])
    # The bot greets a group it joins: let that pass before faults are queued for the answer.
    await stack.telegram.wait_for(lambda: bool(stack.telegram.bot_messages(chat["id"])))
    return chat["id"], ann


def answer_text(stack: Stack) -> str:
    done = [r for r in stack.yandex.responses(limit=50) if r["status"] == "completed"]
    assert len(done) == 1
    return str(done[0]["output_text"])


async def settled(stack: Stack, chat_id: int) -> list[dict[str, Any]]:
    """The bot's replies once the model finished and nothing changed for a while (no Stop button left)."""
    await stack.telegram.wait_for(
        lambda: any(r["status"] == "completed" for r in stack.yandex.responses(limit=50)), timeout=30
    )

    def replies() -> list[dict[str, Any]]:
        return [m for m in stack.telegram.bot_messages(chat_id) if m["reply_to_message_id"] is not None]

    await stack.telegram.wait_for(lambda: bool(replies()), timeout=30)
    previous: Any = None
    for _ in range(100):
        current = [(m["message_id"], len(m["versions"]), m["reply_markup"]) for m in replies()]
        if current == previous and all(m["reply_markup"] is None for m in replies()):
            return replies()
        previous = current
        await asyncio.sleep(0.5)
    raise AssertionError("the bot kept changing its messages")


def assert_delivered_once_and_whole(stack: Stack, chat_id: int, replies: list[dict[str, Any]]) -> None:
    expected = squash(answer_text(stack))
    assert len(replies) == 1, [m["text"] for m in replies]
    assert squash(replies[0]["text"] or "") == expected
    # Nothing else the bot left in the chat repeats the answer either.
    assert [squash(t) for t in final_texts(stack.telegram, chat_id)].count(expected) == 1


async def test_group_answer_survives_server_errors_on_sends_and_edits(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        chat_id, ann = await group(stack)
        stack.telegram.fail_next("sendMessage", 2, error_code=502, description="Bad Gateway")
        stack.telegram.fail_next("editMessageText", 2, error_code=500, description="Internal Server Error")
        await stack.telegram.send_user_message(chat_id, ann, f"{BOT} {QUESTION}")
        replies = await settled(stack, chat_id)
    assert_delivered_once_and_whole(stack, chat_id, replies)
    failed = [c for c in stack.telegram.calls() if c["error_code"] in (500, 502)]
    assert len(failed) == 4  # every injected fault was met, and the answer still arrived


async def test_group_answer_survives_flood_control_and_honours_retry_after(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        chat_id, ann = await group(stack)
        stack.telegram.fail_next(
            "sendMessage", 1, error_code=429, description="Too Many Requests: retry after 2", retry_after=2
        )
        stack.telegram.fail_next(
            "editMessageText",
            2,
            error_code=429,
            description="Too Many Requests: retry after 2",
            retry_after=2,
        )
        await stack.telegram.send_user_message(chat_id, ann, f"{BOT} {QUESTION}")
        replies = await settled(stack, chat_id)
    assert_delivered_once_and_whole(stack, chat_id, replies)
    calls = [
        c
        for c in stack.telegram.calls()
        if c["method"].lower() in ("sendmessage", "editmessagetext")
        and str(c["params"].get("chat_id")) == str(chat_id)
    ]
    limited = [c for c in calls if c["error_code"] == 429]
    assert len(limited) == 3
    for hit in limited:
        # The pause (kept in Redis, shared by replicas) holds the whole chat for retry_after: 2 s,
        # longer than the chat's own pacing (about one call a second), which would hide a missing pause.
        # Every limited call was followed by another (its retry): the answer was delivered whole.
        after = [c for c in calls if c["at"] > hit["at"]]
        assert after, "a call refused with 429 is retried"
        assert after[0]["at"] - hit["at"] >= 1.95
    assert stack.telegram.violations() == []  # and the fake's own flood control was never hit


class Timeouts(BaseRequestMiddleware):
    """Makes chosen Bot API calls time out: before the request left, or after Telegram carried it out."""

    def __init__(self, select: Callable[[TelegramMethod[Any]], bool], *, delivered: bool, times: int) -> None:
        self._select = select
        self._delivered = delivered
        self.remaining = times

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if self.remaining <= 0 or not self._select(method):
            return await make_request(bot, method)
        self.remaining -= 1
        if not self._delivered:
            # As aiogram's session reports a connect timeout: the request never reached Telegram.
            raise TelegramNetworkError(
                method=method, message="Request timeout error"
            ) from ConnectionTimeoutError()
        await make_request(bot, method)  # Telegram carries it out ...
        raise TelegramNetworkError(
            method=method, message="Request timeout error"
        ) from TimeoutError()  # ... the answer is lost


async def test_a_final_edit_whose_answer_was_lost_is_repeated_harmlessly(stack: Stack) -> None:
    async with stack.bot(reply_format="classic") as app:
        chat_id, ann = await group(stack)
        # Final texts carry no keyboard (frames carry the Stop button): lose the answer to the final edits.
        timeouts = Timeouts(
            lambda m: m.__api_method__ == "editMessageText" and getattr(m, "reply_markup", None) is None,
            delivered=True,
            times=2,
        )
        app.runtime.bot.session.middleware(timeouts)
        await stack.telegram.send_user_message(chat_id, ann, f"{BOT} {QUESTION}")
        replies = await settled(stack, chat_id)
    assert timeouts.remaining == 0
    assert_delivered_once_and_whole(stack, chat_id, replies)


async def test_a_send_that_never_reached_telegram_is_retried(stack: Stack) -> None:
    async with stack.bot(reply_format="classic") as app:
        chat_id, ann = await group(stack)
        timeouts = Timeouts(lambda m: m.__api_method__ == "sendMessage", delivered=False, times=3)
        app.runtime.bot.session.middleware(timeouts)
        await stack.telegram.send_user_message(chat_id, ann, f"{BOT} {QUESTION}")
        replies = await settled(stack, chat_id)
    assert timeouts.remaining == 0
    assert_delivered_once_and_whole(stack, chat_id, replies)


async def test_a_private_final_send_whose_answer_was_lost_is_not_sent_twice(stack: Stack) -> None:
    """Ambiguous: Telegram may have shown it. The sender does not repeat a message (at most once)."""
    async with stack.bot(reply_format="classic") as app:
        user = await stack.telegram.create_user("Alice", username="alice", language_code="en")
        chat_id = (await stack.telegram.create_private_chat(user))["id"]
        timeouts = Timeouts(lambda m: m.__api_method__ == "sendMessage", delivered=True, times=1)
        app.runtime.bot.session.middleware(timeouts)
        await stack.telegram.send_user_message(chat_id, user, QUESTION)
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) >= 2, timeout=30)
        await until_idle(stack, app)  # the answer's job is over: nothing more will be sent
    expected = squash(answer_text(stack))
    texts = [squash(t) for t in final_texts(stack.telegram, chat_id)]
    assert texts.count(expected) == 1
    sends = [
        c for c in stack.telegram.calls("sendMessage") if squash(c["params"].get("text", "")) == expected
    ]
    assert len(sends) == 1  # never asked twice
    # The answer failed as far as the bot knows, so the user also got the generic notice.
    assert len(texts) == 2
