"""Contract: update delivery by the Telegram fake: getUpdates (offsets, long poll, conflicts), webhooks
(secret header, retries, per-chat order, replies in the webhook answer) and a real aiogram Dispatcher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.exceptions import TelegramConflictError
from aiogram.methods import SendMessage
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.fakes.telegram.fixtures import make_bot
from tests.fakes.telegram.server import TelegramFake


async def private_chat(fake: TelegramFake, name: str = "Ann") -> tuple[dict[str, Any], int]:
    user = await fake.create_user(name)
    return user, int((await fake.create_private_chat(user))["id"])


async def test_get_updates_offsets_confirm_and_limit(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user, chat_id = await private_chat(telegram_fake)
    for text in ("one", "two", "three"):
        await telegram_fake.send_user_message(chat_id, user, text)
    first = await tg_bot.get_updates(limit=2)
    assert [u.message.text for u in first if u.message] == ["one", "two"]
    again = await tg_bot.get_updates()
    assert [u.update_id for u in again] == [u.update_id for u in first] + [first[-1].update_id + 1]
    rest = await tg_bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in rest if u.message] == ["three"]
    assert await tg_bot.get_updates(offset=rest[-1].update_id + 1) == []
    assert telegram_fake.pending_updates() == []


async def test_long_poll_returns_as_soon_as_an_update_arrives(
    telegram_fake: TelegramFake, tg_bot: Bot
) -> None:
    user, chat_id = await private_chat(telegram_fake)
    started = time.monotonic()
    poll = asyncio.create_task(tg_bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()
    await telegram_fake.send_user_message(chat_id, user, "wake up")
    updates = await poll
    assert [u.message.text for u in updates if u.message] == ["wake up"]
    assert time.monotonic() - started < 2

    started = time.monotonic()
    assert await tg_bot.get_updates(offset=updates[-1].update_id + 1, timeout=1) == []
    assert time.monotonic() - started >= 0.9


async def test_a_second_poller_terminates_the_first(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    other = make_bot(telegram_fake)
    try:
        first = asyncio.create_task(tg_bot.get_updates(timeout=5))
        await asyncio.sleep(0.2)
        second = asyncio.create_task(other.get_updates(timeout=0))
        with pytest.raises(TelegramConflictError) as caught:
            await first
        assert caught.value.message == (
            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
        )
        assert await second == []
    finally:
        await other.session.close()


@dataclass
class WebhookReceiver:
    """A bot-side webhook endpoint that fails the first `fail_first` requests with 500."""

    fail_first: int = 0
    reply: dict[str, Any] | None = None
    received: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    attempts: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.attempts <= self.fail_first:
            return web.Response(status=500)
        self.received.append((await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return web.json_response(self.reply or {})


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    finally:
        await runner.cleanup()


async def test_webhook_delivery_with_secret_retry_and_order(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    receiver = WebhookReceiver(fail_first=2)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    async with serve(app) as url:
        user, chat_id = await private_chat(telegram_fake)
        await telegram_fake.send_user_message(chat_id, user, "queued before setWebhook")
        assert await tg_bot.set_webhook(url, secret_token="s3cret-token", max_connections=5)
        for text in ("first", "second"):
            await telegram_fake.send_user_message(chat_id, user, text)
        await telegram_fake.wait_for(lambda: len(receiver.received) == 3, timeout=5)

    assert [update["message"]["text"] for update, _ in receiver.received] == [
        "queued before setWebhook",
        "first",
        "second",
    ]
    assert {secret for _, secret in receiver.received} == {"s3cret-token"}
    deliveries = telegram_fake.webhook_deliveries()
    assert [d["attempt"] for d in deliveries[:3]] == [1, 2, 3]
    assert deliveries[0]["error"] == "Wrong response from the webhook: 500 Internal Server Error"

    info = await tg_bot.get_webhook_info()
    assert info.url == url and info.pending_update_count == 0 and info.max_connections == 5
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"

    with pytest.raises(TelegramConflictError) as caught:
        await tg_bot.get_updates()
    assert caught.value.message == (
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
    )
    assert await tg_bot.delete_webhook()
    assert await tg_bot.get_updates() == []


async def test_webhook_answer_may_carry_a_method_call(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    """aiogram's SimpleRequestHandler (handle_in_background=False) answers with a multipart method call."""
    dispatcher = Dispatcher()

    @dispatcher.message(F.text)
    async def echo(message: Message) -> SendMessage:
        return message.answer(f"echo: {message.text}")

    app = web.Application()
    SimpleRequestHandler(dispatcher, tg_bot, handle_in_background=False, secret_token="hook").register(
        app, "/hook"
    )
    async with serve(app) as url:
        user, chat_id = await private_chat(telegram_fake)
        await tg_bot.set_webhook(url, secret_token="hook")
        await telegram_fake.send_user_message(chat_id, user, "ping")
        await telegram_fake.wait_for(lambda: len(telegram_fake.bot_messages(chat_id)) == 1, timeout=5)
    assert telegram_fake.bot_messages(chat_id)[0]["text"] == "echo: ping"
    assert [c["method"] for c in telegram_fake.calls()][-1] == "sendMessage"


async def test_dispatcher_polling_end_to_end(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message(F.text)
    async def answer(message: Message) -> None:
        await message.answer(f"you said: <b>{message.text}</b>", parse_mode="HTML")

    polling = asyncio.create_task(
        dispatcher.start_polling(tg_bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        user, chat_id = await private_chat(telegram_fake)
        await telegram_fake.send_user_message(chat_id, user, "hello")
        await telegram_fake.wait_for(lambda: len(telegram_fake.bot_messages(chat_id)) == 1, timeout=5)
    finally:
        await dispatcher.stop_polling()
        await polling
    [reply] = telegram_fake.bot_messages(chat_id)
    assert reply["text"] == "you said: hello"
    assert reply["entities"] == [{"type": "bold", "offset": 10, "length": 5}]
    polls = telegram_fake.calls("getUpdates")
    assert polls and all(c["params"].get("allowed_updates") == ["message"] for c in polls)
