"""How answers end besides completing, and budgets without reported usage, end to end: the bot
against the emulator's `emu:incomplete`, `emu:filtered`, `emu:failed` and `emu:refusal`, and its
`usage` set to `null` or all zeros (as in Yandex's own examples)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import Stack, final_texts


async def private_chat(stack: Stack) -> tuple[dict[str, Any], int]:
    user = await stack.telegram.create_user("Alice", language_code="en")
    return user, (await stack.telegram.create_private_chat(user))["id"]


async def ask(stack: Stack, chat_id: int, user: dict[str, Any], text: str) -> str:
    before = len(final_texts(stack.telegram, chat_id))
    await stack.telegram.send_user_message(chat_id, user, text)
    await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) > before, timeout=20)
    return final_texts(stack.telegram, chat_id)[-1]


async def test_each_ending_has_a_clear_outcome(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        user, chat_id = await private_chat(stack)

        cut = await ask(stack, chat_id, user, "write a lot emu:long=600 emu:incomplete")
        partial, note = cut.rsplit("\n\n", 1)
        assert (
            note == "The answer was cut off at the model's length limit. Ask me to continue if you need more."
        )
        record = stack.yandex.responses()[-1]
        assert record["status"] == "incomplete" and len(partial) > 100
        assert record["output_text"].startswith(partial.strip()[:50])

        declined = await ask(stack, chat_id, user, "something forbidden emu:filtered")
        assert declined == "The model declined to answer this. Try rephrasing the question."

        refused = await ask(stack, chat_id, user, "say no emu:refusal")
        assert refused == stack.yandex.responses()[-1]["output_text"], "a refusal is the model's answer"

        failed = await ask(stack, chat_id, user, "break emu:failed")
        assert failed == "The assistant is temporarily unavailable. Please try again a bit later."
        attempts = [r for r in stack.yandex.responses() if "emu:failed" in r["input_text"]]
        assert [r["status"] for r in attempts] == ["failed"] * 3, "retried while nothing was shown"

        # The cut-off answer was remembered with its question: the model still sees both.
        follow_up = await ask(stack, chat_id, user, "and now? emu:history")
        assert "history=" in follow_up
    texts = final_texts(stack.telegram, chat_id)
    assert not any("Traceback" in text or "Error" in text for text in texts)


@pytest.mark.parametrize("usage", ["null", "zero"])
async def test_budgets_count_estimates_when_yandex_reports_no_usage(stack: Stack, usage: str) -> None:
    stack.yandex.config.usage = "null" if usage == "null" else "zero"
    async with stack.bot(user_daily_tokens=600, reply_format="classic"):
        user, chat_id = await private_chat(stack)
        answered = 0
        for number in range(1, 8):
            text = await ask(stack, chat_id, user, f"question {number} emu:long=400")
            if text.startswith("You've used today's budget"):
                break
            answered += 1
        else:
            raise AssertionError("the budget never ran out")
        assert text == "You've used today's budget of 600 tokens. It renews at 00:00 UTC."
        summary = await ask(stack, chat_id, user, "/usage")
    assert 1 <= answered <= 5
    assert len(stack.yandex.responses()) == answered, "no model call once the budget is spent"
    assert "You: ≈" in summary and "of 600 (≈0 left)" in summary
    assert "approximate" in summary and "estimated" in summary
