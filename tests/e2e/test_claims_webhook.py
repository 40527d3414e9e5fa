"""README "Webhook mode and several replicas", the parts one or two in-process webhook bots can show:
WEBHOOK_SECRET checked at start, a redelivery racing the first delivery (503), the operational
endpoints and an unhealthy /healthz on the webhook's port, and UPDATE_ORDER_GRACE_MS putting one
chat's deliveries to two replicas in update order."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import redis.asyncio as aioredis

import bot.app
from bot.storage.keys import Namespace
from bot.storage.updates import Delivery, RedisUpdateLog
from tests.e2e.harness import Stack, final_texts
from tests.fakes.telegram.fixtures import make_bot
from tests.support.cuttable import CuttableLink
from tests.support.net import free_port

SECRET = "s3cret-Token_1"
SECRET_HEADER = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


def webhook_settings(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "bot_mode": "webhook",
        "webhook_url": f"http://127.0.0.1:{port}/telegram/hook",
        "webhook_secret": SECRET,
        "webhook_host": "127.0.0.1",
        "webhook_port": port,
        "metrics_port": port,
        "reply_format": "classic",
        **extra,
    }


def update(update_id: int, chat_id: int, user: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id % 100_000,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": user["first_name"]},
            "from": user,
            "text": text,
        },
    }


async def deliver(http: aiohttp.ClientSession, port: int, payload: dict[str, Any]) -> int:
    url = f"http://127.0.0.1:{port}/telegram/hook"
    async with http.post(url, json=payload, headers=SECRET_HEADER) as response:
        return response.status


async def test_webhook_secret_must_be_what_telegram_accepts(stack: Stack) -> None:
    webhook = {"bot_mode": "webhook", "webhook_url": "https://bot.example.com/telegram/hook"}
    for secret in (None, "has space", "x" * 257, "ünïcode"):
        run = await stack.run_cli("bot", stack.env(**webhook, webhook_secret=secret), timeout=30)
        assert run.code == 2, (secret, run.output)
        assert run.output.strip().splitlines() == [
            "error: invalid configuration: WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ or - "
            "in webhook mode"
        ], run.output
    assert stack.telegram.calls("setWebhook") == [], "refused before touching Telegram"


async def test_a_redelivery_racing_the_first_one_gets_503_and_is_never_answered_twice(
    stack: Stack, redis_client: aioredis.Redis
) -> None:
    port = free_port()
    async with stack.bot(**webhook_settings(port)), aiohttp.ClientSession() as http:
        user = await stack.telegram.create_user("Ann")
        chat_id = (await stack.telegram.create_private_chat(user))["id"]
        payload = update(610_001, chat_id, user, "only once emu:echo")
        # Another replica has just begun handling this update (its mark, as it writes it) ...
        elsewhere = RedisUpdateLog(redis_client, Namespace(int(stack.telegram.token.split(":")[0])))
        assert await elsewhere.begin(610_001) is Delivery.NEW
        # ... so Telegram's redelivery racing it is turned away, to come back later.
        assert await deliver(http, port, payload) == 503
        # The other replica dies before queueing anything: its mark lapses, and the redelivery that
        # comes back is handled here, once.
        await elsewhere.forget(610_001)
        assert await deliver(http, port, payload) == 200
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 1, timeout=20)
        assert await deliver(http, port, payload) == 200  # a late duplicate: acknowledged, ignored
        await asyncio.sleep(1.0)
    assert final_texts(stack.telegram, chat_id) == ["only once"]
    assert len(stack.yandex.responses()) == 1


async def test_metrics_and_an_unhealthy_healthz_are_served_on_the_webhook_port(stack: Stack) -> None:
    target = urlsplit(stack.redis_url)
    link = CuttableLink(target.hostname or "127.0.0.1", target.port or 6379)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with (
        link.running(),
        stack.bot(**webhook_settings(port), redis_url=f"redis://127.0.0.1:{link.port}{target.path}"),
        aiohttp.ClientSession() as http,
    ):
        async with http.get(f"{base}/metrics") as response:
            assert response.status == 200
            assert "bot_answers_total" in await response.text()
        async with http.get(f"{base}/healthz") as response:
            assert (response.status, await response.json()) == (200, {"status": "ok"})

        stack.yandex.inject_faults(1, 503, ["/v1/models"])
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 503
            body = await response.json()
        assert body["status"] == "unhealthy" and list(body["problems"]) == ["provider"], body

        link.cut()
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 503
            body = await response.json()
        assert list(body["problems"]) == ["redis"] and "Error" in body["problems"]["redis"], body
        link.restore()


async def test_one_chats_deliveries_to_two_replicas_are_answered_in_update_order(stack: Stack) -> None:
    ports = [free_port(), free_port()]
    async with contextlib.AsyncExitStack() as bots:
        for port in ports:
            await bots.enter_async_context(stack.bot(**webhook_settings(port), update_order_grace_ms=1500))
        user = await stack.telegram.create_user("Ann")
        chat_id = (await stack.telegram.create_private_chat(user))["id"]
        async with aiohttp.ClientSession() as http:
            # The later update reaches replica 1 first; the earlier one reaches replica 0 a moment later.
            assert await deliver(http, ports[1], update(620_002, chat_id, user, "second emu:echo")) == 200
            await asyncio.sleep(0.4)
            assert await deliver(http, ports[0], update(620_001, chat_id, user, "first emu:echo")) == 200
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 2, timeout=30)
    assert final_texts(stack.telegram, chat_id) == ["first", "second"]
    assert [r["input_text"] for r in stack.yandex.responses()] == ["first emu:echo", "second emu:echo"]


async def test_healthz_fails_once_telegram_no_longer_posts_to_webhook_url(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's "every minute" check, run every 0.2 s here so the test does not wait a minute."""
    monkeypatch.setattr(bot.app, "WEBHOOK_CHECK_INTERVAL_S", 0.2)
    port = free_port()
    settings = webhook_settings(port, updates_stale_seconds=1)
    async with stack.bot(**settings), aiohttp.ClientSession() as http:

        async def health(wanted: int) -> dict[str, Any]:
            while True:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == wanted:
                        return dict(await response.json())
                await asyncio.sleep(0.1)

        await asyncio.sleep(1.5)  # longer than UPDATES_STALE_SECONDS with no delivery at all: still fine
        assert await asyncio.wait_for(health(200), 5) == {"status": "ok"}
        other = make_bot(stack.telegram)
        try:
            await other.set_webhook("https://elsewhere.example.com/hook")  # another deployment took over
            body = await asyncio.wait_for(health(503), 10)
            assert list(body["problems"]) == ["telegram"], body
            assert body["problems"]["telegram"].startswith("no updates received from Telegram for "), body
            assert "no longer posts updates to WEBHOOK_URL" in body["problems"]["telegram"], body
            await other.set_webhook(settings["webhook_url"], secret_token=SECRET)
            assert await asyncio.wait_for(health(200), 10) == {"status": "ok"}, (
                "healthy once it posts to us again"
            )
        finally:
            await other.session.close()
