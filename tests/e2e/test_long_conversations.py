"""Conversations longer than the model's context, end to end: the bot (aiogram over HTTP, real Redis)
against the emulator with a 3,000-token context (`context_tokens`, the `--context-tokens` option).

Every question is answered, the user never sees a notice, and after a rollover the model still has
earlier user messages in its context (`emu:history`); a private chat and a forum topic alike, with
the bot told the model's size (`MODEL_CONTEXT_TOKENS=3000`: rollovers ahead of need) and left at its
default (32,768: Yandex refuses the prompt's length first, and the bot rolls over and retries)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.core.lanes import NewJob
from bot.core.models import ConversationKey
from bot.storage.conversations import RedisConversationStore
from bot.storage.keys import Namespace
from bot.storage.lanes import RedisLaneStore
from bot.telegram.jobs import key_to_json, lane_name
from tests.e2e.harness import Stack

BOT = "@test_assistant_bot"
EMULATED_CONTEXT = 3000
HISTORY = re.compile(r"history=(\d+)")
QUESTION = re.compile(r"^(?:⟦author: Ann⟧\n)?Question (\d+):")


@dataclass
class Chat:
    """Where questions go and where their answers show up."""

    chat_id: int
    ask: Callable[[str], Awaitable[None]]
    answers: Callable[[], list[dict[str, Any]]]
    """The bot's finished answer messages, oldest first."""


async def private_chat(stack: Stack) -> Chat:
    user = await stack.telegram.create_user("Alice", language_code="en")
    chat_id = (await stack.telegram.create_private_chat(user))["id"]

    async def ask(text: str) -> None:
        await stack.telegram.send_user_message(chat_id, user, text)

    def answers() -> list[dict[str, Any]]:
        return [m for m in stack.telegram.bot_messages(chat_id) if not m["deleted"]]

    return Chat(chat_id, ask, answers)


async def forum_topic(stack: Stack) -> Chat:
    ann = await stack.telegram.create_user("Ann", username="ann", language_code="en")
    chat_id = (await stack.telegram.create_group("Team", supergroup=True, forum=True, members=[ann]))["id"]
    topic = await stack.telegram.create_topic(chat_id, "Plans", by=ann)

    async def ask(text: str) -> None:
        await stack.telegram.send_user_message(chat_id, ann, f"{BOT} {text}", message_thread_id=topic)

    def answers() -> list[dict[str, Any]]:
        return [
            m
            for m in stack.telegram.bot_messages(chat_id)
            if m["reply_to_message_id"] is not None
            and m["message_thread_id"] == topic
            and m["reply_markup"] is None
        ]

    return Chat(chat_id, ask, answers)


def shown(message: dict[str, Any]) -> str:
    return str(message["rich_markdown"] or message["text"] or "")


async def converse(stack: Stack, chat: Chat, questions: int, answer_chars: int) -> list[str]:
    """Ask one question after another, each once the previous answer is final; the answers' texts."""
    for number in range(1, questions + 1):
        await chat.ask(f"Question {number}: what about part {number}? emu:long={answer_chars} emu:history")

        def answered(count: int = number) -> bool:
            messages = chat.answers()
            return len(messages) >= count and bool(shown(messages[count - 1]).strip())

        await stack.telegram.wait_for(answered, timeout=90)
    return [shown(message) for message in chat.answers()]


def answer_records(stack: Stack) -> dict[int, dict[str, Any]]:
    """The emulator's completed answer for each question number."""
    records: dict[int, dict[str, Any]] = {}
    for record in stack.yandex.responses(limit=1000):
        found = QUESTION.match(record["input_text"])
        if found and record["status"] == "completed":
            records[int(found.group(1))] = record
    return records


def summary_records(stack: Stack) -> list[dict[str, Any]]:
    """Requests that wrote a conversation's summary (their input is the rendered transcript)."""
    return [
        r
        for r in stack.yandex.responses(limit=1000)
        if r["input_text"].startswith(("User", "Assistant", "Summary so far")) and r["api"] == "responses"
    ]


def check_every_answer_came_and_context_survived(stack: Stack, texts: list[str], questions: int) -> int:
    """Each question got exactly its answer (no notice instead, none extra); after the first rollover
    the model still had earlier user messages in context. Returns the first question of a new chain."""
    records = answer_records(stack)
    assert sorted(records) == list(range(1, questions + 1))
    assert texts == [records[number]["output_text"] for number in range(1, questions + 1)], "answers only"
    histories = [int(HISTORY.findall(text)[-1]) for text in texts]
    rolled = [number for number in range(1, questions + 1) if histories[number - 1] < number]
    assert rolled, f"no rollover happened: {histories}"
    first_new = rolled[0]
    assert records[first_new]["previous_response_id"] is None, "a new chain"
    for number in rolled:
        assert histories[number - 1] >= 2, (
            f"question {number}: earlier user messages are in context ({histories})"
        )
    new_chain = stack.yandex.state.responses[records[first_new]["id"]]
    roles = [item.get("role") for item in new_chain.input_items]
    assert roles[0] == "developer" and "Summary of the earlier part" in str(
        new_chain.input_items[0]["content"]
    )
    assert roles.count("user") == histories[first_new - 1]
    assert summary_records(stack), "the summary was written by the model"
    return first_new


@pytest.mark.parametrize("where", ["private chat", "forum topic"])
async def test_a_conversation_longer_than_the_context_rolls_over_ahead_of_need(
    stack: Stack, where: str
) -> None:
    stack.yandex.config.context_tokens = EMULATED_CONTEXT
    questions, answer_chars = (12, 1000) if where == "private chat" else (8, 1200)
    async with stack.bot(model_context_tokens=EMULATED_CONTEXT):
        chat = await (private_chat(stack) if where == "private chat" else forum_topic(stack))
        texts = await converse(stack, chat, questions, answer_chars)
    first_new = check_every_answer_came_and_context_survived(stack, texts, questions)
    assert all(r["error"] is None for r in stack.yandex.responses(limit=1000)), "never a refused prompt"
    # The summary was written right after the answer that made it due, before the next question's turn.
    records = answer_records(stack)
    summary = summary_records(stack)[0]
    assert records[first_new - 1]["completed_at"] <= summary["started_at"]
    assert summary["completed_at"] <= records[first_new]["started_at"]
    assert stack.telegram.violations() == []


@pytest.mark.parametrize("where", ["private chat", "forum topic"])
async def test_a_refused_prompt_length_rolls_over_and_retries_without_the_user_noticing(
    stack: Stack, where: str
) -> None:
    stack.yandex.config.context_tokens = EMULATED_CONTEXT
    questions, answer_chars = (14, 1000) if where == "private chat" else (9, 1500)
    async with stack.bot():  # MODEL_CONTEXT_TOKENS from YC_MODEL: 32,768
        chat = await (private_chat(stack) if where == "private chat" else forum_topic(stack))
        texts = await converse(stack, chat, questions, answer_chars)
    check_every_answer_came_and_context_survived(stack, texts, questions)
    refused = [r for r in stack.yandex.responses(limit=1000) if r["error"] is not None]
    assert refused, "Yandex refused a prompt's length at least once"
    assert all(
        r["error"]["http_status"] == 400 and "exceeded prompt length" in r["error"]["message"]
        for r in refused
    )
    assert len(refused) <= 2, "the limit learned from a refusal makes later rollovers come ahead of need"


async def test_a_rollover_left_by_a_dead_replica_is_finished_by_another(
    stack: Stack, redis_client: aioredis.Redis
) -> None:
    """The rollover ahead of need is a job in the conversation's durable lane: a replica that dies
    while the summary is being written leaves it queued, and the replica that resumes the lane
    finishes it; the conversation then goes on in the new chain."""
    stack.yandex.config.context_tokens = EMULATED_CONTEXT
    async with stack.bot(model_context_tokens=EMULATED_CONTEXT):
        chat = await private_chat(stack)
        await converse(stack, chat, 4, 1000)  # not yet due
    assert summary_records(stack) == []
    settings = stack.settings()
    ns = Namespace(settings.bot_id)
    key = ConversationKey(chat.chat_id)
    conversations = RedisConversationStore(redis_client, ns, max_turns=200, ttl_seconds=3600)
    before = await conversations.load(key)
    assert before.context_handle is not None and before.summary is None
    # A replica took the rollover job (attempt 1) and died writing the summary.
    lanes = RedisLaneStore(redis_client, ns)
    lane = lane_name(key)
    payload = {"key": key_to_json(key), "handle": before.context_handle, "correlation": "9001"}
    await lanes.enqueue(
        lane,
        NewJob("rollover:answer:9001", "rollover", payload, 9001),
        max_jobs=5,
        owner="dead",
        lock_seconds=1.0,
    )
    assert (await lanes.next(lane, "dead", done=None, order_grace=0)).job is not None

    async with stack.bot(model_context_tokens=EMULATED_CONTEXT, lane_lock_seconds=3):

        async def rolled_over() -> bool:
            return (await conversations.load(key)).summary is not None

        for _ in range(200):
            if await rolled_over():
                break
            await asyncio.sleep(0.1)
        after = await conversations.load(key)
        assert after.context_handle is None and after.summary and after.carry_over
        await chat.ask("Question 5: and then? emu:history")
        await stack.telegram.wait_for(lambda: len(chat.answers()) == 5, timeout=30)
    assert len(summary_records(stack)) >= 1
    last = answer_records(stack)[5]
    assert last["previous_response_id"] is None, "the next answer starts the new chain"
    assert int(HISTORY.findall(shown(chat.answers()[-1]))[-1]) >= 2
