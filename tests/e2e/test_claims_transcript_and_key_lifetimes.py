"""README "Configuration" (TRANSCRIPT_MAX_TURNS, CONVERSATION_TTL_DAYS) and the README's table of Redis
keys: what a chat leaves in Redis, and how long it stays. End to end: the real bot, real Redis."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bot.storage.redis_typing import awaited
from tests.e2e.harness import Stack, final_texts

ROOT = Path(__file__).resolve().parents[2]
DAY = 86_400
NOTES = {"file_name": "plan.md", "mime_type": "text/markdown", "content": b"The plan is to meet at noon."}


async def private_chat(stack: Stack, name: str = "Alice") -> tuple[dict[str, Any], int]:
    user = await stack.telegram.create_user(name, language_code="en")
    return user, int((await stack.telegram.create_private_chat(user))["id"])


async def wait_final(stack: Stack, chat_id: int, count: int, timeout: float = 20.0) -> list[str]:
    await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) >= count, timeout=timeout)
    return final_texts(stack.telegram, chat_id)


def history_document(stack: Stack, chat_id: int) -> str:
    document = stack.telegram.bot_messages(chat_id)[-1]["document"]
    assert document is not None and document["file_name"] == "conversation.md"
    return str(stack.telegram.controller.state.files[document["file_id"]].read().decode())


async def test_transcript_keeps_the_last_transcript_max_turns_turns(
    stack: Stack, redis_client: aioredis.Redis
) -> None:
    async with stack.bot(transcript_max_turns=10, reply_format="classic"):
        user, chat_id = await private_chat(stack)
        for number in range(1, 7):  # six questions and six answers: twelve turns
            await stack.telegram.send_user_message(chat_id, user, f"question number {number} emu:echo")
            await wait_final(stack, chat_id, count=number)
        await stack.telegram.send_user_message(chat_id, user, "/history")
        await stack.telegram.wait_for(
            lambda: stack.telegram.bot_messages(chat_id)[-1]["document"] is not None
        )
        document = history_document(stack, chat_id)
        [transcript] = [key async for key in redis_client.scan_iter(match=f"*:transcript:{chat_id}:t*")]
        stored = await awaited(redis_client.llen(transcript))
    assert stored == 10
    headers = [line for line in document.splitlines() if line.startswith("## ")]
    assert len(headers) == 10, document
    assert "question number 1 " not in document, "the oldest turns are dropped"
    assert "question number 2" in document and "question number 6" in document


# Lifetime of each key family in the README's table of Redis keys, as (shortest, longest) TTL in
# seconds (a key read as it expires may have a fraction of a second left); None: no TTL. The settings here: CONVERSATION_TTL_DAYS=2, LANE_LOCK_SECONDS=15.
LIFETIMES: dict[str, tuple[float, float] | None] = {
    "conv": (2 * DAY - 300, 2 * DAY),
    "transcript": (2 * DAY - 300, 2 * DAY),
    "settings": None,
    "kb": (180 * DAY - 300, 180 * DAY),
    "kb-activity": None,
    "chatter": (DAY - 300, DAY),
    "access-notice": (3600 - 300, 3600),
    "notice": (0.001, 60),
    "usage": (2 * DAY, 3 * DAY),
    "usage-approx": (2 * DAY, 3 * DAY),
    "lane": (0.001, DAY),
    "lane-lock": (0.001, 15),
    "job": (DAY - 300, DAY),
    "lanes": None,
    "update": (0.001, DAY),
    "tg-rate": (0.001, 120),
    "running": (0.001, 3 * 3600),
    "heartbeat": (0.001, 180),
}


def readme_key_families() -> set[str]:
    """The first word of each key in the README's table of Redis keys (`conv:<chat>…` → conv)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("Redis keys, all under `yab:<bot id>:`", 1)[1].split("\n\n", 2)[1]
    return {
        re.split(r"[:{]", name)[0]
        for line in table.splitlines()[2:]
        for name in re.findall(r"`([a-z-]+[:{][^`]*|[a-z-]+)`", line.split("|")[1])
    }


async def test_every_key_a_chat_leaves_has_the_lifetime_the_readme_gives(
    stack: Stack, redis_client: aioredis.Redis
) -> None:
    assert set(LIFETIMES) | {"doctor"} == readme_key_families()
    gus = await stack.telegram.create_user("Gus", language_code="en")
    group = (await stack.telegram.create_group("Team", supergroup=True, members=[gus]))["id"]
    user, chat_id = await private_chat(stack)
    stranger, strangers_chat = await private_chat(stack, "Stranger")
    async with stack.bot(
        conversation_ttl_days=2,
        lane_lock_seconds=15,
        allowed_user_ids=f"{gus['id']},{user['id']}",
        max_queued_per_chat=1,
        group_context_messages=5,
        reply_format="classic",
    ):

        def said(needle: str) -> bool:
            return any(needle in text for text in final_texts(stack.telegram, chat_id))

        await stack.telegram.send_user_message(chat_id, user, "hello there")
        await wait_final(stack, chat_id, count=1)
        await stack.telegram.send_user_message(chat_id, user, document=NOTES)
        await stack.telegram.wait_for(lambda: said("✅ Ready"), timeout=20)
        await stack.telegram.send_user_message(chat_id, user, "/format rich")
        await stack.telegram.wait_for(lambda: said("rich"))
        # A queue-full note: one answer running, one waiting, the third refused.
        await stack.telegram.send_user_message(chat_id, user, "slow one emu:slow=50 emu:long=300")
        await stack.telegram.wait_for(
            lambda: any(r["status"] == "in_progress" for r in stack.yandex.responses())
        )
        await stack.telegram.send_user_message(chat_id, user, "waits")
        await stack.telegram.send_user_message(chat_id, user, "refused")
        await stack.telegram.wait_for(lambda: said("still answering"))
        await stack.telegram.send_user_message(group, gus, "just chatting in the group")
        await stack.telegram.send_user_message(strangers_chat, stranger, "let me in")
        await wait_final(stack, strangers_chat, count=1)
        await stack.telegram.wait_for(
            lambda: sum(r["status"] == "completed" for r in stack.yandex.responses()) == 3, timeout=30
        )
        await stack.telegram.wait_for(
            lambda: all(m["reply_markup"] is None for m in stack.telegram.bot_messages(chat_id)), timeout=20
        )
        prefix = f"yab:{stack.telegram.config.bot_id}:"
        # "lane: until emptied": once the last answer is done, its lane goes.
        deadline = asyncio.get_running_loop().time() + 10
        while [key async for key in redis_client.scan_iter(match=f"{prefix}lane:*")]:
            assert asyncio.get_running_loop().time() < deadline, "a lane outlived its last job"
            await asyncio.sleep(0.05)
        lifetimes: dict[str, float] = {}
        async for raw in redis_client.scan_iter(match=f"{prefix}*"):
            key = raw.decode()
            milliseconds = await redis_client.pttl(key)
            if milliseconds == -2:
                continue  # expired between the scan and this read (a rate bucket refilled): it did expire
            lifetimes[key] = milliseconds if milliseconds < 0 else milliseconds / 1000
    families = {key: re.split(r"[:/]", key.removeprefix(prefix))[0] for key in lifetimes}
    assert {
        "conv",
        "transcript",
        "settings",
        "kb",
        "access-notice",
        "notice",
        "usage",
        "job",
        "chatter",
    } <= set(families.values()), sorted(lifetimes)
    for key, ttl in lifetimes.items():
        family = families[key]
        assert family in LIFETIMES, f"{key}: a key the README's table does not list"
        expected = LIFETIMES[family]
        if expected is None:
            assert ttl == -1, f"{key}: kept without a TTL, but it expires in {ttl} s"
        else:
            assert expected[0] <= ttl <= expected[1], f"{key}: TTL {ttl} s, expected {expected}"
