"""Receiving updates: polling after webhook mode, two pollers on one token, a health check that knows
whether updates arrive, and where the operational endpoints live in webhook mode."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.app import BotApp, ReceivingConflict
from bot.storage.heartbeat import beat_forever
from bot.storage.keys import Namespace
from tests.e2e.harness import Stack, final_texts
from tests.fakes.telegram.fixtures import make_bot
from tests.support.net import free_port

pytestmark = pytest.mark.slow


async def private_chat(stack: Stack, name: str = "Nora") -> tuple[dict[str, Any], int]:
    user = await stack.telegram.create_user(name)
    return user, (await stack.telegram.create_private_chat(user))["id"]


async def healthz(port: int) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as response:
        return response.status, await response.json()


async def test_polling_removes_a_webhook_left_behind_and_the_doctor_warns_first(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    old_deployment = make_bot(stack.telegram)
    try:
        await old_deployment.set_webhook(f"http://127.0.0.1:{free_port()}/telegram/hook", secret_token="old")
    finally:
        await old_deployment.session.close()
    user, chat_id = await private_chat(stack)
    await stack.telegram.send_user_message(chat_id, user, "sent while the webhook was set emu:echo")

    doctor = await stack.run_cli("bot.doctor", stack.env())
    assert doctor.code == 1 and "Traceback" not in doctor.output
    failed = [line for line in doctor.stdout.splitlines() if "  FAIL  " in line]
    assert len(failed) == 1
    assert failed[0].startswith("Telegram updates")
    assert "BOT_MODE=polling, but a webhook is set (http://127.0.0.1:" in failed[0]
    assert "removes it at start" in failed[0]

    caplog.set_level(logging.INFO)
    async with stack.bot(reply_format="classic"):
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 1)
        await stack.telegram.send_user_message(chat_id, user, "and after emu:echo")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 2)
    assert final_texts(stack.telegram, chat_id) == ["sent while the webhook was set", "and after"]
    assert "removed the webhook (http://127.0.0.1:" in caplog.text
    assert "1 pending updates are kept" in caplog.text
    assert [call["params"].get("drop_pending_updates") for call in stack.telegram.calls("deleteWebhook")] in (
        [False],
        [None],
    )


async def test_a_second_poller_takes_over_and_the_first_stops_with_a_clear_reason(stack: Stack) -> None:
    first = await BotApp.create(stack.settings(reply_format="classic"))
    first_serving = asyncio.create_task(first.run_polling(handle_signals=False))
    await first.serving.wait()
    await asyncio.sleep(0.5)  # its first long poll is pending at Telegram
    async with stack.bot(reply_format="classic"):
        with pytest.raises(ReceivingConflict) as stopped:
            await asyncio.wait_for(first_serving, 30)
        assert "another process is polling Telegram with this BOT_TOKEN" in str(stopped.value)
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, "who answers? emu:echo")
        await stack.telegram.wait_for(lambda: final_texts(stack.telegram, chat_id) == ["who answers?"])


async def test_health_fails_while_updates_cannot_be_received(stack: Stack) -> None:
    port = free_port()
    async with stack.bot(metrics_port=port, metrics_host="127.0.0.1", updates_stale_seconds=1):
        assert await healthz(port) == (200, {"status": "ok"})
        # aiogram retries failed polls with a backoff of about 1, 1.3, 1.7 s: several seconds without updates.
        stack.telegram.fail_next("getUpdates", 3, error_code=502, description="Bad Gateway")

        async def health(wanted: int) -> dict[str, Any]:
            while True:
                status, body = await healthz(port)
                if status == wanted:
                    return body
                await asyncio.sleep(0.1)

        body = await asyncio.wait_for(health(503), 20)
        assert body["status"] == "unhealthy"
        assert body["problems"]["telegram"].startswith("no updates received from Telegram for ")
        assert "TelegramServerError" in body["problems"]["telegram"]
        assert "redis" not in body["problems"]
        assert await asyncio.wait_for(health(200), 30) == {"status": "ok"}, "healthy again once polls succeed"


async def test_webhook_mode_honours_metrics_host_and_port(stack: Stack) -> None:
    webhook_port, metrics_port = free_port(), free_port()
    webhook = {
        "bot_mode": "webhook",
        "webhook_url": f"http://127.0.0.1:{webhook_port}/telegram/hook",
        "webhook_secret": "s3cret",
        "webhook_host": "127.0.0.1",
        "webhook_port": webhook_port,
    }
    async with stack.bot(**webhook, metrics_host="127.0.0.1", metrics_port=metrics_port):
        assert (await healthz(metrics_port))[0] == 200
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{webhook_port}/healthz") as response,
        ):
            assert response.status == 404, "not on the webhook's public listener"
    async with stack.bot(**webhook, metrics_port=0), aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{webhook_port}/healthz") as response:
            assert response.status == 404, "METRICS_PORT=0 turns them off"
        async with http.get(f"http://127.0.0.1:{webhook_port}/metrics") as response:
            assert response.status == 404
    async with stack.bot(**webhook, metrics_port=webhook_port):
        assert (await healthz(webhook_port))[0] == 200, "the same port: served by the webhook listener"


async def test_the_container_health_check_reports_updates_not_arriving(stack: Stack) -> None:
    """`python -m bot.health` reads the heartbeat: fresh but with a receiving problem is unhealthy."""
    problem = "no updates received from Telegram for 130 s (last error: TelegramConflictError)"
    redis: aioredis.Redis = aioredis.Redis.from_url(stack.redis_url)
    beating = asyncio.create_task(
        beat_forever(redis, Namespace(int(stack.telegram.token.split(":")[0])), lambda: problem)
    )
    try:
        await asyncio.sleep(0.2)
        run = await stack.run_cli("bot.health", stack.env())
    finally:
        beating.cancel()
        await asyncio.gather(beating, return_exceptions=True)
        await redis.aclose()
    assert run.code == 1
    assert run.output.strip().splitlines() == [f"unhealthy: {problem}"]


async def test_the_doctor_in_webhook_mode_reports_a_webhook_pointing_elsewhere(stack: Stack) -> None:
    other = make_bot(stack.telegram)
    try:
        await other.set_webhook("https://elsewhere.example.com/hook")
    finally:
        await other.session.close()
    webhook = stack.env(
        bot_mode="webhook", webhook_url="https://bot.example.com/telegram/hook", webhook_secret="s3cret"
    )
    run = await stack.run_cli("bot.doctor", webhook)
    assert run.code == 1 and "Traceback" not in run.output
    failed = [line for line in run.stdout.splitlines() if "  FAIL  " in line]
    assert len(failed) == 1
    assert failed[0].startswith("Telegram updates")
    assert "BOT_MODE=webhook, but Telegram posts to another URL (https://elsewhere.example.com…)" in failed[0]
