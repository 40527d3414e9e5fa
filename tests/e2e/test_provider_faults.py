"""Model provider faults end to end: the real bot against the Yandex emulator's fault injection.

Covered in test_private_chat.py and not repeated here: one 503 then success, a failure on every
attempt (the notice), a 400 (no retry), a stream failing midway (the partial answer with a note).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bot.app import BotApp
from tests.e2e.harness import Stack, final_texts

UNAVAILABLE = "The assistant is temporarily unavailable. Please try again a bit later."


async def private_chat(stack: Stack) -> tuple[dict[str, Any], int]:
    user = await stack.telegram.create_user("Alice", username="alice", language_code="en")
    chat = await stack.telegram.create_private_chat(user)
    return user, chat["id"]


async def ask(stack: Stack, chat_id: int, user: dict[str, Any], text: str, timeout: float = 15.0) -> str:
    """Send a question; return the bot's next final message."""
    before = len(final_texts(stack.telegram, chat_id))
    await stack.telegram.send_user_message(chat_id, user, text)
    await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) > before, timeout=timeout)
    return final_texts(stack.telegram, chat_id)[-1]


def provider_errors(app: BotApp, kind: str) -> float:
    value = app.runtime.metrics.registry.get_sample_value("bot_provider_errors_total", {"kind": kind})
    return value or 0.0


def breaker_state(app: BotApp) -> float | None:
    return app.runtime.metrics.registry.get_sample_value("bot_provider_breaker_state")


def reached_provider(stack: Stack, marker: str) -> int:
    return sum(marker in r["input_text"] for r in stack.yandex.responses(limit=200))


@pytest.mark.parametrize("statuses", [[429], [503, 429]], ids=["429", "503-then-429"])
async def test_rate_limits_and_server_errors_before_any_text_are_retried(
    stack: Stack, statuses: list[int]
) -> None:
    async with stack.bot(reply_format="classic") as app:
        user, chat_id = await private_chat(stack)
        for status in statuses:  # applied in order, one request each
            stack.yandex.inject_faults(count=1, status=status, paths=["/v1/responses"])
        text = await ask(stack, chat_id, user, "busy provider emu:echo")
        assert text == stack.yandex.responses()[-1]["output_text"]
        assert "busy provider" in text
        for status in set(statuses):
            assert provider_errors(app, f"http_{status}") == statuses.count(status)
        assert breaker_state(app) == 0.0


async def test_a_hanging_provider_times_out_and_the_question_is_retried(stack: Stack) -> None:
    async with stack.bot(reply_format="classic", yc_timeout_seconds=0.5) as app:
        user, chat_id = await private_chat(stack)
        # The first request gets nothing, not even headers, for longer than the client waits.
        stack.yandex.inject_delays(count=1, seconds=3.0, paths=["/v1/responses"])
        started = time.monotonic()
        text = await ask(stack, chat_id, user, "are you there? emu:echo")
        assert "are you there?" in text
        assert time.monotonic() - started < 3.0, "answered by the retry, not by waiting out the hang"
        assert provider_errors(app, "timeout") == 1
        # The hold ends 3 s after the first request: the emulator then finds its client gone and
        # logs the request as dropped (499). Only after that can "it was never handled" be checked.
        await stack.telegram.wait_for(
            lambda: any(r["status"] == 499 for r in stack.yandex.requests() if r["path"] == "/v1/responses"),
            timeout=10,
        )
    # The abandoned request was dropped by the emulator: only the retry was answered.
    assert [r["status"] for r in stack.yandex.responses()] == ["completed"]


async def test_a_stream_stalling_before_its_first_text_gets_a_clear_notice(stack: Stack) -> None:
    async with stack.bot(reply_format="classic", yc_timeout_seconds=0.5):
        user, chat_id = await private_chat(stack)
        stack.yandex.config.first_delta_delay = 2.0  # headers and `response.created` come at once
        assert await ask(stack, chat_id, user, "stalled") == UNAVAILABLE
        stack.yandex.config.first_delta_delay = 0.05
        assert "fine again" in await ask(stack, chat_id, user, "fine again emu:echo")


async def test_a_sustained_outage_opens_the_breaker_and_a_probe_closes_it(stack: Stack) -> None:
    async with stack.bot(
        reply_format="classic", provider_breaker_failures=4, provider_breaker_cooldown_seconds=3.0
    ) as app:
        user, chat_id = await private_chat(stack)
        # Three attempts (the retries) fail: three failures, still closed.
        assert await ask(stack, chat_id, user, "one emu:fail=503") == UNAVAILABLE
        assert reached_provider(stack, "one emu:fail=503") == 3
        assert breaker_state(app) == 0.0
        # The fourth failure opens it: no further retry.
        assert await ask(stack, chat_id, user, "two emu:fail=503") == UNAVAILABLE
        assert reached_provider(stack, "two emu:fail=503") == 1
        assert breaker_state(app) == 2.0
        # While open, questions get the notice at once without reaching the provider.
        await asyncio.sleep(1.0)  # the chat's Telegram send budget refills (it paces notices too)
        sent_at = time.time()
        assert await ask(stack, chat_id, user, "three emu:fail=503") == UNAVAILABLE
        assert stack.telegram.bot_messages(chat_id)[-1]["sent_at"] - sent_at < 1.0
        assert reached_provider(stack, "three emu:fail=503") == 0
        # After the cooldown one question probes; the provider is back, so it is answered.
        await asyncio.sleep(3.0)
        assert breaker_state(app) == 1.0
        assert "back again" in await ask(stack, chat_id, user, "back again emu:echo")
        assert breaker_state(app) == 0.0
    assert stack.telegram.violations() == []
