"""Metrics exposure, quiet logs and daily token budgets, end to end."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from tests.e2e.harness import Stack, final_texts
from tests.support.net import free_port


async def test_metrics_and_health_are_exposed(stack: Stack) -> None:
    port = free_port()
    async with stack.bot(metrics_port=port):
        user = await stack.telegram.create_user("Ann")
        chat = await stack.telegram.create_private_chat(user)
        stack.telegram.fail_next(
            "sendMessage", 1, error_code=429, description="Too Many Requests: retry after 1", retry_after=1
        )
        await stack.telegram.send_user_message(chat["id"], user, "hello there")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat["id"])) == 1)
        async with aiohttp.ClientSession() as http:
            body = ""
            # The answer is counted just after its final message goes out, and its lane is let go
            # just after that: scrape once both have happened.
            for _ in range(50):
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    assert response.status == 200
                    body = await response.text()
                if 'bot_answers_total{outcome="completed"}' in body and "bot_lanes_active 0.0" in body:
                    break
                await asyncio.sleep(0.1)
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
                assert (await response.json())["status"] == "ok"
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in body.splitlines()
        if line and not line.startswith("#")
    }
    assert values['bot_answers_total{outcome="completed"}'] == 1.0
    assert values["bot_first_visible_text_seconds_count"] == 1.0
    assert values['bot_tokens_total{direction="output"}'] > 0
    assert values["bot_lanes_active"] == 0.0
    assert values["bot_telegram_429_total"] == 1.0, "the one 429 Telegram answered"


async def test_logs_hold_no_message_contents_or_secrets(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with stack.bot():
        user = await stack.telegram.create_user("Ann")
        chat = await stack.telegram.create_private_chat(user)
        await stack.telegram.send_user_message(chat["id"], user, "my secret plan is purple-elephant emu:echo")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat["id"])) == 1)
    # Something was logged (the check below is not vacuous): the answer's own line, with its numbers.
    finished = [r for r in caplog.records if r.getMessage() == "answer finished"]
    assert len(finished) == 1
    assert finished[0].__dict__["outcome"] == "completed"
    assert finished[0].__dict__["chars"] == len(final_texts(stack.telegram, chat["id"])[0])
    assert any(r.levelno == logging.DEBUG for r in caplog.records), "DEBUG lines were captured too"
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)  # messages and extra fields
    assert "purple-elephant" not in logged
    assert stack.telegram.token.split(":")[1] not in logged
    assert stack.api_key not in logged


async def test_daily_budget_is_enforced_and_survives_a_restart(stack: Stack) -> None:
    async with stack.bot(user_daily_tokens=5, reply_format="classic"):
        user = await stack.telegram.create_user("Ann")
        chat_id = (await stack.telegram.create_private_chat(user))["id"]
        await stack.telegram.send_user_message(chat_id, user, "first question")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 1)
    async with stack.bot(user_daily_tokens=5, reply_format="classic"):
        await stack.telegram.send_user_message(chat_id, user, "second question")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 2)
        await stack.telegram.send_user_message(chat_id, user, "/usage")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 3)
    texts = final_texts(stack.telegram, chat_id)
    assert texts[1] == "You've used today's budget of 5 tokens. It renews at 00:00 UTC."
    assert "You:" in texts[2] and "of 5 (0 left)" in texts[2]
    assert len(stack.yandex.responses()) == 1, "no model call once the budget is spent"


async def test_admins_are_exempt_from_budgets(stack: Stack) -> None:
    async with stack.bot(user_daily_tokens=5, admin_user_ids="777", reply_format="classic"):
        admin = await stack.telegram.create_user("Boss", user_id=777)
        chat_id = (await stack.telegram.create_private_chat(admin))["id"]
        for question in ("one", "two"):
            await stack.telegram.send_user_message(chat_id, admin, f"{question} emu:echo")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 2)
    assert len(stack.yandex.responses()) == 2
