"""README "Long conversations" claims end to end that tests/e2e/test_long_conversations.py leaves out:
what the summary request asks for and how long it may be (ROLLOVER_SUMMARY_TOKENS), how many recent
turns a new chain carries (REPLAY_TURNS), the group's author labels in both, the chain continuing with
`previous_response_id`, and /history keeping the summarized turns. A group of two members against the
emulator with a 3,000-token context."""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from tests.e2e.harness import Stack

BOT = "@test_assistant_bot"
EMULATED_CONTEXT = 3000
QUESTION = re.compile(r"^⟦author: (?:Ann|Bob)⟧\nQuestion (\d+):")


def answers_by_question(stack: Stack) -> dict[int, dict[str, Any]]:
    """The emulator's completed answer for each question number."""
    records: dict[int, dict[str, Any]] = {}
    for record in stack.yandex.responses(limit=1000):
        found = QUESTION.match(record["input_text"])
        if found and record["status"] == "completed":
            records[int(found.group(1))] = record
    return records


def answered(stack: Stack, number: int) -> bool:
    return number in answers_by_question(stack)


def summary_requests(stack: Stack) -> list[dict[str, Any]]:
    return [
        r
        for r in stack.yandex.responses(limit=1000)
        if r["input_text"].startswith(("User", "Assistant", "Summary so far")) and r["api"] == "responses"
    ]


def new_chains(stack: Stack) -> list[int]:
    """Questions (after the first) whose request started a new chain."""
    return sorted(
        n for n, r in answers_by_question(stack).items() if n > 1 and r["previous_response_id"] is None
    )


async def test_a_rollover_in_a_group_summarizes_with_labels_and_carries_replay_turns(stack: Stack) -> None:
    stack.yandex.config.context_tokens = EMULATED_CONTEXT
    settings = {
        "reply_format": "classic",
        "model_context_tokens": EMULATED_CONTEXT,
        "rollover_summary_tokens": 100,
        "rollover_recent_percent": 37,  # room for two exchanges: REPLAY_TURNS is what limits
        "replay_turns": 2,
    }
    async with stack.bot(**settings):
        ann = await stack.telegram.create_user("Ann", username="ann", language_code="en")
        bob = await stack.telegram.create_user("Bob", username="bob", language_code="en")
        chat_id = (await stack.telegram.create_group("Team", supergroup=True, members=[ann, bob]))["id"]
        asked = 0
        while asked < 16 and len([n for n in new_chains(stack) if n < asked]) == 0:
            asked += 1
            who = ann if asked % 2 else bob
            await stack.telegram.send_user_message(
                chat_id, who, f"{BOT} Question {asked}: what about part {asked}? emu:long=600 emu:history"
            )
            await stack.telegram.wait_for(partial(answered, stack, asked), timeout=60)
        await stack.telegram.send_user_message(chat_id, ann, f"/history{BOT}")
        await stack.telegram.wait_for(
            lambda: stack.telegram.bot_messages(chat_id)[-1]["document"] is not None
        )
        document = stack.telegram.bot_messages(chat_id)[-1]["document"]
        transcript = stack.telegram.controller.state.files[document["file_id"]].read().decode()
    records = answers_by_question(stack)
    [first_new, *_] = new_chains(stack)
    assert first_new < asked, "a rollover happened and the chain went on"

    # The summary request: its own instructions, the turns as labelled lines, at most 100 tokens.
    summary = summary_requests(stack)[0]
    summary_response = stack.yandex.state.responses[summary["id"]]
    assert summary_response.echoed_params.get("max_output_tokens") == 100
    assert summary["instructions"] is not None
    for asked_for in (
        "who asked what",
        "names",
        "facts",
        "numbers",
        "decisions",
        "preferences",
        "open questions",
    ):
        assert asked_for in summary["instructions"]
    assert "language the conversation is in" in summary["instructions"]
    speakers = re.findall(
        r"(?m)^(?:User ⟦author: (\w+)⟧: Question (\d+)|(Assistant): )", summary["input_text"]
    )
    assert speakers[:4] == [("Ann", "1", ""), ("", "", "Assistant"), ("Bob", "2", ""), ("", "", "Assistant")]

    # The new chain: instructions, the summary as a developer message, REPLAY_TURNS recent turns
    # (opening with a question, under its author's label), then the question.
    new_chain = stack.yandex.state.responses[records[first_new]["id"]]
    assert new_chain.instructions
    roles = [item.get("role") for item in new_chain.input_items]
    assert roles == ["developer", "user", "assistant", "user"], roles
    assert "Summary of the earlier part of this conversation" in str(new_chain.input_items[0]["content"])
    replayed = str(new_chain.input_items[1]["content"])
    assert f"Question {first_new - 1}:" in replayed and "⟦author: " in replayed
    # Later requests continue the new chain.
    assert records[first_new + 1]["previous_response_id"] == records[first_new]["id"]

    # /history keeps every turn, the summarized ones included.
    for number in range(1, asked + 1):
        assert f"Question {number}: what about part {number}?" in transcript
    assert len([line for line in transcript.splitlines() if line.startswith("## ")]) == 2 * asked


def answered_in(stack: Stack, chat_id: int, count: int) -> bool:
    completed = [r for r in stack.yandex.responses() if r["status"] == "completed"]
    return len(completed) == count and len(stack.telegram.bot_messages(chat_id)) == count


async def test_history_keeps_the_last_transcript_max_turns_turns(stack: Stack) -> None:
    async with stack.bot(reply_format="classic", transcript_max_turns=10):
        user = await stack.telegram.create_user("Alice", language_code="en")
        chat_id = (await stack.telegram.create_private_chat(user))["id"]
        for number in range(1, 7):
            await stack.telegram.send_user_message(chat_id, user, f"Question {number}: and part {number}?")
            await stack.telegram.wait_for(partial(answered_in, stack, chat_id, number))
        await stack.telegram.send_user_message(chat_id, user, "/history")
        await stack.telegram.wait_for(
            lambda: stack.telegram.bot_messages(chat_id)[-1]["document"] is not None
        )
        document = stack.telegram.bot_messages(chat_id)[-1]["document"]
        transcript = stack.telegram.controller.state.files[document["file_id"]].read().decode()
    headers = [line for line in transcript.splitlines() if line.startswith("## ")]
    assert len(headers) == 10, transcript
    assert "Question 1:" not in transcript, "the oldest exchange went"
    for number in range(2, 7):
        assert f"Question {number}: and part {number}?" in transcript
