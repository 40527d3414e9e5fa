"""Contract: the fake's control API over HTTP, fault injection, auth/unknown methods and standalone start."""

from __future__ import annotations

import asyncio
import base64
import re
import sys
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod

from tests.fakes.telegram.server import TelegramFake

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class NoSuchMethod(TelegramMethod[bool]):
    __returning__ = bool
    __api_method__ = "noSuchMethod"


async def test_fault_injection(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user = await telegram_fake.create_user("Ann")
    chat_id = (await telegram_fake.create_private_chat(user))["id"]
    telegram_fake.fail_next(
        "sendMessage", 2, error_code=429, description="Too Many Requests: retry after 7", retry_after=7
    )
    telegram_fake.fail_next("sendMessage", error_code=500, description="Internal Server Error")
    telegram_fake.fail_next("editMessageText", error_code=502, description="Bad Gateway")
    telegram_fake.fail_next(
        "sendMessage",
        error_code=400,
        description="Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=-1001234,
    )
    for _ in range(2):
        with pytest.raises(TelegramRetryAfter) as limited:
            await tg_bot.send_message(chat_id, "x")
        assert limited.value.retry_after == 7
    with pytest.raises(TelegramServerError):
        await tg_bot.send_message(chat_id, "x")
    with pytest.raises(TelegramMigrateToChat) as migrated:
        await tg_bot.send_message(chat_id, "x")
    assert migrated.value.migrate_to_chat_id == -1001234
    # The injected 429s penalise this chat for 7 s, as earned ones do: the rest goes to another chat.
    other_chat_id = (await telegram_fake.create_private_chat(await telegram_fake.create_user("Bo")))["id"]
    sent = await tg_bot.send_message(other_chat_id, "finally")
    with pytest.raises(TelegramServerError):
        await tg_bot.edit_message_text("y", chat_id=other_chat_id, message_id=sent.message_id)
    assert [(c["ok"], c["error_code"]) for c in telegram_fake.calls("sendMessage")] == [
        (False, 429),
        (False, 429),
        (False, 500),
        (False, 400),
        (True, None),
    ]
    assert telegram_fake.violations() == []  # injected faults are not flood-control violations


async def test_wrong_token_and_unknown_method(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    stranger = Bot(
        "999:WRONG", session=AiohttpSession(api=TelegramAPIServer.from_base(telegram_fake.base_url))
    )
    try:
        with pytest.raises(TelegramUnauthorizedError) as caught:
            await stranger.get_me()
        assert caught.value.message == "Unauthorized"
    finally:
        await stranger.session.close()
    with pytest.raises(TelegramNotFound) as not_found:
        await tg_bot(NoSuchMethod())
    assert not_found.value.message == "Not Found"

    async with aiohttp.ClientSession() as http:
        url = f"{telegram_fake.base_url}/bot{telegram_fake.token}/getme"  # method names are case-insensitive
        async with http.get(url) as response:
            assert (await response.json())["result"]["username"] == "test_assistant_bot"


async def test_control_api_over_http(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    control = f"{telegram_fake.base_url}/__control"
    async with aiohttp.ClientSession() as http:

        async def post(path: str, body: dict[str, object] | None = None) -> object:
            async with http.post(f"{control}{path}", json=body or {}) as response:
                assert response.status == 200, await response.text()
                return await response.json()

        async def get(path: str) -> object:
            async with http.get(f"{control}{path}") as response:
                assert response.status == 200, await response.text()
                return await response.json()

        user = await post("/users", {"first_name": "Ann", "username": "ann_user"})
        assert isinstance(user, dict)
        chat = await post("/chats/private", {"user_id": user["id"]})
        assert isinstance(chat, dict) and chat["id"] == user["id"]
        message = await post(
            f"/chats/{chat['id']}/messages",
            {
                "user_id": user["id"],
                "document": {
                    "file_name": "a.txt",
                    "mime_type": "text/plain",
                    "content_base64": base64.b64encode(b"abc").decode(),
                },
                "caption": "read this",
            },
        )
        assert isinstance(message, dict) and message["document"]["file_size"] == 3

        [update] = await tg_bot.get_updates()
        assert update.message is not None and update.message.caption == "read this"
        await tg_bot.send_message(chat["id"], "got it")
        bot_messages = await get(f"/chats/{chat['id']}/bot_messages")
        assert isinstance(bot_messages, list) and bot_messages[0]["text"] == "got it"
        calls = await get("/calls?method=sendMessage")
        assert isinstance(calls, list) and calls[0]["params"]["chat_id"] == chat["id"]

        async with http.patch(f"{control}/config", json={"group_per_minute": 5}) as response:
            assert (await response.json())["group_per_minute"] == 5
        assert telegram_fake.config.group_per_minute == 5
        async with http.post(
            f"{control}/chats/-1/messages", json={"user_id": user["id"], "text": "x"}
        ) as response:
            assert response.status == 400
            assert (await response.json()) == {"error": "unknown chat -1"}

        await post("/reset")
        assert telegram_fake.calls() == [] and telegram_fake.bot_messages(chat["id"]) == []


async def test_standalone_server_in_a_subprocess() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.telegram",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--token",
        "42:STANDALONE",
        "--no-rate-limits",
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=15)).decode()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert match, line
        bot = Bot("42:STANDALONE", session=AiohttpSession(api=TelegramAPIServer.from_base(match.group(1))))
        try:
            assert (await bot.get_me()).username == "test_assistant_bot"
        finally:
            await bot.session.close()
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
