"""Small things operators and users noticed: proxies for both clients, /usage without a budget, /ask in
a private chat, and the doctor passing on a healthy deployment."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

from tests.e2e.harness import Stack, final_texts
from tests.support.proxy import running_proxy

pytestmark = pytest.mark.slow


async def private_chat(stack: Stack) -> tuple[dict[str, Any], int]:
    user = await stack.telegram.create_user("Ada")
    return user, (await stack.telegram.create_private_chat(user))["id"]


def host_port(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


async def test_telegram_and_yandex_go_through_the_configured_proxies(stack: Stack) -> None:
    telegram, yandex = host_port(stack.telegram.base_url), host_port(stack.yandex.base_url)
    async with running_proxy() as telegram_proxy, running_proxy() as https_proxy:
        async with stack.bot(telegram_proxy=telegram_proxy.url, https_proxy=https_proxy.url):
            user, chat_id = await private_chat(stack)
            await stack.telegram.send_user_message(chat_id, user, "through proxies emu:echo")
            await stack.telegram.wait_for(lambda: final_texts(stack.telegram, chat_id) == ["through proxies"])
        assert set(telegram_proxy.targets) == {telegram}
        assert set(https_proxy.targets) == {yandex}
    async with running_proxy() as https_proxy:
        async with stack.bot(https_proxy=https_proxy.url):
            await stack.telegram.send_user_message(chat_id, user, "one proxy for both emu:echo")
            await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 2)
        assert set(https_proxy.targets) == {telegram, yandex}, "HTTPS_PROXY serves Telegram too"
    async with running_proxy() as https_proxy:
        async with stack.bot(https_proxy=https_proxy.url, no_proxy="127.0.0.1"):
            await stack.telegram.send_user_message(chat_id, user, "no proxy emu:echo")
            await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 3)
        assert https_proxy.targets == [], "NO_PROXY exempts these hosts"


async def test_usage_counts_tokens_without_a_budget(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, "count me")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 1)
        # Counted just after the answer went out (/usage does not wait in the chat's queue).
        redis: aioredis.Redis = aioredis.Redis.from_url(stack.redis_url)
        try:
            for _ in range(100):
                if await redis.keys(f"yab:{stack.telegram.token.split(':')[0]}:usage:user:{user['id']}:*"):
                    break
                await asyncio.sleep(0.05)
        finally:
            await redis.aclose()
        await stack.telegram.send_user_message(chat_id, user, "/usage")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 2)
    report = final_texts(stack.telegram, chat_id)[-1]
    you = re.search(r"You: (\d+) \(no limit\)", report)
    chat = re.search(r"This chat: (\d+) \(no limit\)", report)
    assert you and chat, report
    assert int(you[1]) == int(chat[1]) > 0, "the answer's tokens were counted"


async def test_ask_works_in_a_private_chat(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, "/ask what is two plus two? emu:echo")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 1)
        await stack.telegram.send_user_message(chat_id, user, "/ask")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 2)
    first, hint = final_texts(stack.telegram, chat_id)
    assert first == "what is two plus two?"
    assert hint.startswith("Write your question after the command")
    assert stack.yandex.responses()[-1]["input_text"] == "what is two plus two? emu:echo"


async def test_the_doctor_passes_on_a_healthy_deployment(stack: Stack) -> None:
    run = await stack.run_cli("bot.doctor", stack.env())
    assert run.code == 0, run.output
    lines = run.stdout.strip().splitlines()
    assert lines[-1] == "all checks passed"
    checks = (
        "settings",
        "Redis",
        "Telegram",
        "Telegram updates",
        "Yandex credentials",
        "model",
        "streamed answer",
        "files + vector store",
    )
    for name in checks:
        assert any(line.startswith(f"{name} ") and "  ok  " in line for line in lines), (name, run.stdout)
    assert "FAIL" not in run.stdout
    assert "first token after" in run.stdout
    assert "uploaded, indexed, found by search, deleted" in run.stdout
    assert stack.yandex.vector_stores() == [] and stack.yandex.state.files == {}, "the doctor cleans up"
