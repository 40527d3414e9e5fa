"""README "Faults", end to end: the Telegram faults not covered by test_telegram_faults.py (429 and
5xx on drafts, rejected entities, "message is not modified"), connection errors to the provider, and
an answer cut by a Redis outage. Each test checks what the user finally sees."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.app import BotApp
from bot.telegram.delivery import NOT_MODIFIED
from tests.e2e.harness import Stack, final_texts
from tests.e2e.test_telegram_faults import Timeouts
from tests.support.cuttable import CuttableLink

BOT = "@test_assistant_bot"
DRAFTING = ("sendMessageDraft", "sendRichMessageDraft")


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def completed_outputs(stack: Stack) -> list[str]:
    return [str(r["output_text"]) for r in stack.yandex.responses(limit=50) if r["status"] == "completed"]


async def private_chat(stack: Stack, name: str = "Ann") -> tuple[int, dict[str, Any]]:
    user = await stack.telegram.create_user(name, language_code="en")
    return (await stack.telegram.create_private_chat(user))["id"], user


def chat_calls(stack: Stack, chat_id: int, methods: tuple[str, ...]) -> list[dict[str, Any]]:
    wanted = {m.lower() for m in methods}
    return [
        c
        for c in stack.telegram.calls()
        if c["method"].lower() in wanted and str(c["params"].get("chat_id")) == str(chat_id)
    ]


def answers(app: BotApp, outcome: str) -> float:
    return app.runtime.metrics.registry.get_sample_value("bot_answers_total", {"outcome": outcome}) or 0.0


async def answered_once(stack: Stack, chat_id: int, *, extra_messages: int = 0) -> str:
    """Wait until the model finished and the user sees its answer; return the answer."""
    await stack.telegram.wait_for(lambda: bool(completed_outputs(stack)), timeout=30)
    expected = squash(completed_outputs(stack)[0])
    await stack.telegram.wait_for(
        lambda: expected in [squash(t) for t in final_texts(stack.telegram, chat_id)], timeout=30
    )
    await asyncio.sleep(0.5)  # nothing else may follow (no error notice, no second copy)
    texts = [squash(t) for t in final_texts(stack.telegram, chat_id)]
    assert texts.count(expected) == 1, texts
    assert len(texts) == 1 + extra_messages, texts
    return expected


async def test_a_429_on_a_draft_pauses_the_chat_for_retry_after_and_the_answer_arrives_whole(
    stack: Stack,
) -> None:
    stack.yandex.config.chars_per_second = 150  # about 5 s of streaming: many drafts
    async with stack.bot(reply_format="classic") as app:
        chat_id, ann = await private_chat(stack)
        stack.telegram.fail_next(
            "sendMessageDraft",
            1,
            error_code=429,
            description="Too Many Requests: retry after 2",
            retry_after=2,
        )
        await stack.telegram.send_user_message(chat_id, ann, "tell me about herons emu:long=700")
        await answered_once(stack, chat_id)
        counted = app.runtime.metrics.registry.get_sample_value("bot_telegram_429_total")
    assert counted == 1.0, "bot_telegram_429_total counts it"
    calls = chat_calls(stack, chat_id, DRAFTING)
    limited = [c for c in calls if c["error_code"] == 429]
    assert len(limited) == 1
    after = [c for c in calls if c["at"] > limited[0]["at"]]
    assert after, "drafting went on after the 429"
    # No draft goes to the chat until Telegram's retry_after has passed (the chat's drafts are paused;
    # README, Faults: "a 429 pauses the chat's sends + edits or its drafts") ...
    assert after[0]["at"] - limited[0]["at"] >= 1.95, after[0]
    # ... and then the drafts resume: the pause did not end the streaming.
    assert any(c["ok"] for c in after)
    assert stack.telegram.violations() == []


async def test_failed_drafts_are_replaced_by_the_next_ones_and_the_answer_arrives_whole(stack: Stack) -> None:
    stack.yandex.config.chars_per_second = 150
    async with stack.bot(reply_format="classic"):
        chat_id, ann = await private_chat(stack)
        stack.telegram.fail_next("sendMessageDraft", 3, error_code=502, description="Bad Gateway")
        await stack.telegram.send_user_message(chat_id, ann, "tell me about herons emu:long=700")
        expected = await answered_once(stack, chat_id)
    drafts = chat_calls(stack, chat_id, DRAFTING)
    failed = [c for c in drafts if c["error_code"] == 502]
    assert len(failed) == 3, "every injected fault was met"
    later = [c for c in drafts if c["ok"] and c["at"] > failed[-1]["at"]]
    assert later, "drafting went on after the failures"
    shown = [squash(str(c["params"].get("text", ""))) for c in later]
    assert all(expected.startswith(text) for text in shown), "each later draft is a prefix of the answer"
    assert len(shown[-1]) > len(squash(str(failed[-1]["params"].get("text", "")))), "and it grew"


async def test_entities_telegram_rejects_fall_back_to_plain_text(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        chat_id, ann = await private_chat(stack)
        stack.telegram.fail_next(
            "sendMessage",
            1,
            error_code=400,
            description="Bad Request: can't parse entities: Can't find end of the entity starting at byte offset 0",
        )
        await stack.telegram.send_user_message(chat_id, ann, "**herons** fish at dawn emu:echo")
        await stack.telegram.wait_for(lambda: bool(completed_outputs(stack)), timeout=30)
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) >= 1, timeout=30)
        await asyncio.sleep(0.5)
    sends = chat_calls(stack, chat_id, ("sendMessage",))
    assert len(sends) == 2, sends
    assert sends[0]["error_code"] == 400 and sends[0]["params"].get("entities"), "the first try had entities"
    assert sends[1]["ok"] and not sends[1]["params"].get("entities"), "the second is plain text"
    messages = [m for m in stack.telegram.bot_messages(chat_id) if not m["deleted"]]
    assert len(messages) == 1, [m["text"] for m in messages]
    assert (messages[0]["text"] or "").startswith("herons fish at dawn"), messages[0]["text"]
    assert messages[0]["entities"] == []


async def test_message_is_not_modified_is_not_an_error(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """The final edit of a group answer reaches Telegram but its answer is lost; the repeated edit
    gets Telegram's genuine "message is not modified" (the fake compares text and keyboard). That
    is the edit having worked: the answer counts as completed, nothing is logged as failed."""
    stack.yandex.config.chars_per_second = 120  # a group answer: a first send, frame edits, a final edit
    caplog.set_level(logging.INFO)
    async with stack.bot(reply_format="classic") as app:
        ann = await stack.telegram.create_user("Ann", language_code="en")
        team = (await stack.telegram.create_group("Team", supergroup=True, members=[ann]))["id"]
        await stack.telegram.wait_for(lambda: bool(stack.telegram.bot_messages(team)))  # the greeting
        greeting = len(final_texts(stack.telegram, team))
        lost = Timeouts(
            lambda m: m.__api_method__ == "editMessageText" and getattr(m, "reply_markup", None) is None,
            delivered=True,
            times=1,
        )
        app.runtime.bot.session.middleware(lost)
        await stack.telegram.send_user_message(team, ann, f"{BOT} tell me about herons emu:long=1000")
        await stack.telegram.wait_for(lambda: bool(completed_outputs(stack)), timeout=30)
        expected = squash(completed_outputs(stack)[0])

        def replies() -> list[dict[str, Any]]:
            return [m for m in stack.telegram.bot_messages(team) if m["reply_to_message_id"] is not None]

        await stack.telegram.wait_for(
            lambda: (
                [squash(m["text"] or "") for m in replies()] == [expected]
                and replies()[0]["reply_markup"] is None
            ),
            timeout=30,
        )
        await stack.telegram.wait_for(lambda: answers(app, "completed") == 1, timeout=10)
        await asyncio.sleep(0.5)
        failed_answers = answers(app, "error")
    assert lost.remaining == 0
    edits = chat_calls(stack, team, ("editMessageText",))
    assert any(NOT_MODIFIED in (e["description"] or "") for e in edits), "Telegram said it"
    assert failed_answers == 0
    assert len(final_texts(stack.telegram, team)) == greeting + 1, "no error notice"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
        r.getMessage() for r in caplog.records
    ]


async def test_connection_errors_to_the_provider_are_retried_before_anything_is_shown(stack: Stack) -> None:
    target = urlsplit(stack.yandex.base_url)
    link = CuttableLink(target.hostname or "127.0.0.1", target.port or 80)
    async with link.running():
        base_url = f"http://127.0.0.1:{link.port}{target.path}"
        async with stack.bot(reply_format="classic", yc_base_url=base_url) as app:
            chat_id, ann = await private_chat(stack)
            # The next two connections to Yandex are reset before a byte of a response.
            link.refuse_next = 2
            link.reset_open_connections()
            await stack.telegram.send_user_message(chat_id, ann, "are you there? emu:echo")
            await answered_once(stack, chat_id)
            counted = app.runtime.metrics.registry.get_sample_value(
                "bot_provider_errors_total", {"kind": "connection"}
            )
    assert counted == 2.0, "bot_provider_errors_total{kind=connection} counts both"
    assert link.refused == 2, "both attempts met a connection error"
    assert len(stack.yandex.responses()) == 1, "the third attempt was answered"


async def test_an_answer_cut_by_a_redis_outage_is_answered_when_redis_returns(stack: Stack) -> None:
    target = urlsplit(stack.redis_url)
    link = CuttableLink(target.hostname or "127.0.0.1", target.port or 6379)
    async with link.running():
        redis_url = f"redis://127.0.0.1:{link.port}{target.path}"
        async with stack.bot(reply_format="classic", redis_url=redis_url, lane_lock_seconds=3):
            chat_id, ann = await private_chat(stack)
            question = "what do herons eat emu:echo emu:slow=40 emu:long=500"
            await stack.telegram.send_user_message(chat_id, ann, question)
            await stack.telegram.wait_for(lambda: bool(stack.telegram.drafts(chat_id)), timeout=20)
            link.cut()  # Redis is gone mid-answer; its data stays
            await stack.telegram.wait_for(
                lambda: any("temporarily unavailable" in t for t in final_texts(stack.telegram, chat_id)),
                timeout=30,
            )
            assert not any(t.startswith("what do herons eat") for t in final_texts(stack.telegram, chat_id))
            link.restore()
            await stack.telegram.wait_for(
                lambda: any(t.startswith("what do herons eat") for t in final_texts(stack.telegram, chat_id)),
                timeout=40,
            )
            await asyncio.sleep(1.0)
    texts = final_texts(stack.telegram, chat_id)
    answers = [t for t in texts if t.startswith("what do herons eat")]
    assert len(answers) == 1, texts
    assert squash(answers[0]) == squash(completed_outputs(stack)[-1])
    assert all("temporarily unavailable" in t for t in texts if t not in answers), texts
    assert {r["input_text"] for r in stack.yandex.responses()} == {question}
