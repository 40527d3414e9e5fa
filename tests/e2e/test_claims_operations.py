"""README "Operations", end to end: metrics whose values move with what happened, the logs of a real
`python -m bot` process (its own logging set-up: JSON lines, the update id in background answer jobs,
secrets redacted whatever library prints them), and `python -m bot.health`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bot.storage.keys import HeartbeatKey, Namespace
from tests.e2e.harness import REPO_ROOT, Stack, final_texts
from tests.support.net import free_port
from tests.support.replicas import ReplicaProcess

ADMIN = 777


async def scrape(port: int) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        body = await response.text()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line and not line.startswith("#")
    }


async def metric_reaches(port: int, name: str, wanted: float, timeout: float = 15.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        values = await scrape(port)
        if values.get(name) == wanted:
            return values
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} is {values.get(name)}, not {wanted}")
        await asyncio.sleep(0.1)


async def test_metrics_move_with_answers_streams_errors_documents_and_refusals(stack: Stack) -> None:
    port = free_port()
    async with stack.bot(
        metrics_port=port, reply_format="classic", user_daily_tokens=5, admin_user_ids=str(ADMIN)
    ):
        before = await scrape(port)
        assert before["bot_answer_seconds_count"] == 0.0
        assert before["bot_active_streams"] == 0.0
        assert before["bot_budget_refusals_total"] == 0.0

        boss = await stack.telegram.create_user("Boss", user_id=ADMIN)
        boss_chat = (await stack.telegram.create_private_chat(boss))["id"]
        # A streaming answer is an active stream while it streams, and none once it is done; its
        # final send meets two 502s first (retried), which bot_telegram_errors_total counts.
        stack.telegram.fail_next("sendMessage", 2, error_code=502, description="Bad Gateway")
        await stack.telegram.send_user_message(boss_chat, boss, "slow one emu:echo emu:slow=50 emu:long=300")
        await metric_reaches(port, "bot_active_streams", 1.0)
        values = await metric_reaches(port, "bot_answer_seconds_count", 1.0, timeout=30)
        assert values["bot_answer_seconds_sum"] > 1.0, "the answer streamed for more than a second"
        assert values['bot_telegram_errors_total{kind="server"}'] == 2.0
        await metric_reaches(port, "bot_active_streams", 0.0)

        # Documents: one indexed, one the provider cannot read.
        await stack.telegram.send_user_message(
            boss_chat,
            boss,
            document={
                "file_name": "notes.md",
                "mime_type": "text/markdown",
                "content": b"# Herons\nThey fish.",
            },
        )
        await metric_reaches(port, 'bot_documents_indexed_total{result="ready"}', 1.0, timeout=30)
        await stack.telegram.send_user_message(
            boss_chat,
            boss,
            document={"file_name": "broken.txt", "mime_type": "text/plain", "content": b"emu:unreadable"},
        )
        await metric_reaches(port, 'bot_documents_indexed_total{result="failed"}', 1.0, timeout=30)

        # A member whose daily budget is spent is refused (admins are exempt).
        ann = await stack.telegram.create_user("Ann")
        ann_chat = (await stack.telegram.create_private_chat(ann))["id"]
        await stack.telegram.send_user_message(ann_chat, ann, "first emu:echo")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, ann_chat)) == 1, timeout=20)
        await stack.telegram.send_user_message(ann_chat, ann, "second emu:echo")
        values = await metric_reaches(port, "bot_budget_refusals_total", 1.0)
        assert values["bot_answer_seconds_count"] == 2.0, "a refusal is not an answer"


def leaking_library(directory: Path) -> Path:
    """A `sitecustomize` that, once the bot has set up its logging, has third-party loggers print the
    secrets from the environment — what a library's debug or error line might do."""
    (directory / "sitecustomize.py").write_text(
        """
import logging, os, threading, time

def _leak():
    for _ in range(600):
        if any(type(h.formatter).__name__ == "JsonFormatter" for h in logging.getLogger().handlers):
            break
        time.sleep(0.05)
    logging.getLogger("aiohttp.client").warning(
        "POST %s/bot%s/getUpdates failed", os.environ["TELEGRAM_API_URL"], os.environ["BOT_TOKEN"])
    logging.getLogger("openai._base_client").warning(
        "headers: {'Authorization': 'Api-Key %s'}", os.environ["YC_API_KEY"])
    logging.getLogger("aiohttp.server").error(
        "header X-Telegram-Bot-Api-Secret-Token: %s", os.environ["WEBHOOK_SECRET"])

threading.Thread(target=_leak, daemon=True).start()
"""
    )
    return directory


async def test_a_real_bot_process_logs_json_with_update_ids_and_never_its_secrets(
    stack: Stack, tmp_path: Path
) -> None:
    port = free_port()
    secret = "hook-Secret_42"
    env = stack.replica_env(
        public_url=f"http://127.0.0.1:{port}/telegram/hook",
        port=port,
        secret=secret,
        log_format="json",
        reply_format="classic",
    )
    replica = ReplicaProcess("solo", port, env, tmp_path / "solo.log")
    path = f"{leaking_library(tmp_path)}{os.pathsep}{REPO_ROOT}"
    with replica.log_path.open("ab") as log:
        replica.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env={**os.environ, **env, "PYTHONPATH": path},
            stdout=log,
            stderr=log,
        )
    await replica.wait_ready()
    try:
        user = await stack.telegram.create_user("Ann")
        chat_id = (await stack.telegram.create_private_chat(user))["id"]
        await stack.telegram.send_user_message(chat_id, user, "my plan is purple-elephant emu:echo")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 1, timeout=30)
        await asyncio.sleep(0.5)
    finally:
        assert await replica.terminate() == 0
    lines = replica.log_path.read_text().splitlines()
    entries: list[dict[str, Any]] = [json.loads(line) for line in lines]  # every line is JSON
    assert all({"ts", "level", "logger", "msg"} <= entry.keys() for entry in entries)
    update_id = stack.telegram.webhook_deliveries()[-1]["update_id"]
    finished = [e for e in entries if e["msg"] == "answer finished"]
    assert len(finished) == 1, "the answer job logs its end"
    assert finished[0]["update_id"] == str(update_id), finished[0]
    text = "\n".join(lines)
    leaked = [
        e for e in entries if e["logger"] in ("aiohttp.client", "openai._base_client", "aiohttp.server")
    ]
    assert len(leaked) == 3 and all("[redacted]" in e["msg"] for e in leaked), leaked
    for value in (stack.telegram.token, stack.telegram.token.split(":")[1], stack.api_key, secret):
        assert value not in text, f"{value} leaked"
    assert "purple-elephant" not in text, "no message texts"


async def test_the_container_health_check_passes_on_a_beating_bot_and_fails_with_a_reason(
    stack: Stack,
) -> None:
    async with stack.bot():
        healthy = await stack.run_cli("bot.health", stack.env())
    assert (healthy.code, healthy.output) == (0, "")

    redis: aioredis.Redis = aioredis.Redis.from_url(stack.redis_url)
    try:
        bot_id = int(stack.telegram.token.split(":")[0])
        stale = json.dumps({"at": time.time() - 100, "problem": None})  # the bot stopped beating 100 s ago
        await redis.set(str(HeartbeatKey(Namespace(bot_id))), stale)
        old = await stack.run_cli("bot.health", stack.env())
        await redis.delete(str(HeartbeatKey(Namespace(bot_id))))
        none = await stack.run_cli("bot.health", stack.env())
    finally:
        await redis.aclose()
    assert old.code == 1 and old.output.strip() == "unhealthy: no recent heartbeat from the bot"
    assert none.code == 1 and none.output.strip() == "unhealthy: no recent heartbeat from the bot"

    unreachable = await stack.run_cli("bot.health", stack.env(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    assert unreachable.code == 1
    assert unreachable.output.strip() == "unhealthy: Redis unreachable (ConnectionError)"


async def test_speech_recognition_errors_are_counted_with_stt_kinds(stack: Stack) -> None:
    async with stack.bot(reply_format="classic", stt_poll_seconds=0.05) as app:
        user = await stack.telegram.create_user("Ann", language_code="en")
        chat_id = (await stack.telegram.create_private_chat(user))["id"]
        stack.yandex.inject_faults(2, 503, ["/speech/v1/stt:recognize"])
        await stack.telegram.send_user_message(
            chat_id, user, voice={"content": "heard at last", "duration": 1}
        )
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 1, timeout=30)
        counted = app.runtime.metrics.registry.get_sample_value(
            "bot_provider_errors_total", {"kind": "stt_http_503"}
        )
    assert "heard at last" in final_texts(stack.telegram, chat_id)[0], "the third attempt was heard"
    assert counted == 2.0
