"""Webhook mode end to end: real deliveries from the Telegram fake, secret checks, de-duplication,
and a graceful stop that refuses new deliveries while in-flight answers finish."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from tests.e2e.harness import Stack, final_texts
from tests.e2e.settling import until_idle
from tests.support.net import free_port

SECRET = "s3cret-Token_1"


def webhook_settings(port: int) -> dict[str, Any]:
    return {
        "bot_mode": "webhook",
        "webhook_url": f"http://127.0.0.1:{port}/telegram/hook",
        "webhook_secret": SECRET,
        "webhook_host": "127.0.0.1",
        "webhook_port": port,
        "reply_format": "classic",
    }


def update_payload(update_id: int, chat_id: int, user: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 900 + update_id % 100,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": user["first_name"]},
            "from": user,
            "text": text,
        },
    }


async def test_updates_arrive_by_webhook_and_are_answered(stack: Stack) -> None:
    port = free_port()
    async with stack.bot(**webhook_settings(port)):
        user = await stack.telegram.create_user("Ann")
        chat_id = (await stack.telegram.create_private_chat(user))["id"]
        await stack.telegram.send_user_message(chat_id, user, "hello by webhook emu:echo")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 1)
    assert "hello by webhook" in final_texts(stack.telegram, chat_id)[0]
    set_calls = stack.telegram.calls("setWebhook")
    assert set_calls and set_calls[0]["params"]["url"].endswith("/telegram/hook")
    assert set_calls[0]["params"]["secret_token"] == SECRET
    assert stack.telegram.calls("deleteWebhook") == [], "other replicas keep serving"
    deliveries = stack.telegram.webhook_deliveries()
    # Every update reached the bot at its first delivery: no refused or failed attempt, no retry.
    assert deliveries, "the updates came by webhook"
    assert [(d["attempt"], d["error"]) for d in deliveries] == [(1, None)] * len(deliveries)


async def test_wrong_or_missing_secret_is_refused_and_duplicates_are_answered_once(stack: Stack) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    async with stack.bot(**webhook_settings(port)) as app:
        user = await stack.telegram.create_user("Ann")
        chat_id = (await stack.telegram.create_private_chat(user))["id"]
        payload = update_payload(555_001, chat_id, user, "only once please emu:echo")
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=payload) as response:
                assert response.status == 401
            async with http.post(
                url, json=payload, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}
            ) as response:
                assert response.status == 401
            for _ in range(3):
                async with http.post(
                    url, json=payload, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                ) as response:
                    assert response.status == 200
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 1)
        # Every delivery was answered above (de-duplication happens before the 200): once the bot
        # is idle, a second answer could only come from a job that was queued, and none is.
        await until_idle(stack, app)
    assert len(final_texts(stack.telegram, chat_id)) == 1
    assert len(stack.yandex.responses()) == 1


async def test_stopping_refuses_new_deliveries_and_finishes_the_answer_in_flight(stack: Stack) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    async with stack.bot(**webhook_settings(port), shutdown_deadline_seconds=20) as app:
        user = await stack.telegram.create_user("Ann")
        chat_id = (await stack.telegram.create_private_chat(user))["id"]
        await stack.telegram.send_user_message(chat_id, user, "long answer emu:slow=40 emu:long=800")
        await stack.telegram.wait_for(lambda: bool(stack.telegram.drafts(chat_id)))
        await app.stop()  # what SIGTERM does
        await asyncio.sleep(0.1)
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                url,
                json=update_payload(777_001, chat_id, user, "too late"),
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            ) as response,
        ):
            assert response.status == 503
    # Leaving the block waited for the bot to exit: the in-flight answer was completed first.
    expected = stack.yandex.responses()[-1]["output_text"]
    assert final_texts(stack.telegram, chat_id) == [expected]
    assert [r["input_text"] for r in stack.yandex.responses()] == ["long answer emu:slow=40 emu:long=800"]
