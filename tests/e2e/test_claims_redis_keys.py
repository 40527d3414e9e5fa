"""README "Testing: the fakes", its table of Redis keys: after a bot has answered in a private chat and
a group, indexed a document, heard unaddressed group chatter and refused a chat it does not serve,
every key it wrote is one the table lists, under `yab:<bot id>:`, with the lifetime the table gives."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import redis.asyncio as aioredis

from tests.e2e.harness import Stack, final_texts
from tests.support.net import free_port

DAY = 86400
TTL_DAYS = 2  # CONVERSATION_TTL_DAYS, so the conversation's lifetime is the setting's, not a default
LOCK_S = 6
BOT = "@test_assistant_bot"

# key pattern (after the namespace) → (shortest, longest) remaining lifetime in seconds; None: no TTL
LIFETIMES: dict[str, tuple[float, float] | None] = {
    r"conv:-?\d+:t\d+": (TTL_DAYS * DAY - 120, TTL_DAYS * DAY),
    r"transcript:-?\d+:t\d+": (TTL_DAYS * DAY - 120, TTL_DAYS * DAY),
    r"settings:-?\d+:t\d+": None,
    r"kb:-?\d+:t\d+": (180 * DAY - 120, 180 * DAY),
    r"kb-activity": None,
    r"chatter:-?\d+:t\d+": (DAY - 120, DAY),
    r"access-notice:-?\d+": (3600 - 120, 3600),
    r"notice:[\w-]+:-?\d+/\d+": (1, 60),
    r"usage(-approx)?:(user|chat):-?\d+:\d{4}-?\d{2}-?\d{2}": (2 * DAY, 3 * DAY),
    r"lane:.+": (1, DAY),  # emptied lanes vanish
    r"lane-lock:.+": (0.001, LOCK_S),
    r"job:.+": (1, DAY),
    r"lanes": None,
    r"update:\d+": (1, DAY),
    r"tg-rate:(chat|draft|window|pause|dpause|dlearn):-?\d+": (0.001, 3600),
    r"tg-rate:global:(tat|pause|learn|last429)": (0.001, 3600),
    r"running:-?\d+/\d+": (3 * 3600 - 120, 3 * 3600),
    r"heartbeat": (180 - 120, 180),
    r"doctor:\w+": (1, 60),
}


async def lifetimes(redis: aioredis.Redis, prefix: str) -> dict[str, float | None]:
    found: dict[str, float | None] = {}
    async for raw in redis.scan_iter(match="*", count=500):
        key = raw.decode()
        assert key.startswith(prefix + ":"), f"{key} is outside the bot's namespace"
        ttl = await redis.pttl(key)
        if ttl == -2:  # gone between the scan and the read
            continue
        found[key.removeprefix(prefix + ":")] = None if ttl == -1 else ttl / 1000
    return found


def check(found: dict[str, float | None]) -> set[str]:
    """Every key fits one documented pattern and its lifetime; returns the patterns seen."""
    seen: set[str] = set()
    for key, ttl in found.items():
        patterns = [p for p in LIFETIMES if re.fullmatch(p, key)]
        assert patterns, f"{key} is not in the README's table of keys"
        lifetime = LIFETIMES[patterns[0]]
        if lifetime is None:
            assert ttl is None, f"{key} expires ({ttl} s) though the table gives it no TTL"
        else:
            assert ttl is not None, f"{key} never expires"
            assert lifetime[0] <= ttl <= lifetime[1], f"{key}: {ttl} s, not within {lifetime}"
        seen.add(patterns[0])
    return seen


async def test_every_key_is_namespaced_documented_and_lives_as_long_as_the_table_says(
    stack: Stack, redis_client: aioredis.Redis
) -> None:
    ann = await stack.telegram.create_user("Ann")
    chat_id = (await stack.telegram.create_private_chat(ann))["id"]
    team = (await stack.telegram.create_group("Team", supergroup=True, members=[ann]))["id"]
    stranger = await stack.telegram.create_user("Stranger")
    stranger_chat = (await stack.telegram.create_private_chat(stranger))["id"]
    prefix = f"yab:{stack.telegram.token.split(':')[0]}"
    port = free_port()
    seen: set[str] = set()
    async with stack.bot(
        bot_mode="webhook",
        webhook_url=f"http://127.0.0.1:{port}/telegram/hook",
        webhook_secret="keys-secret",
        webhook_host="127.0.0.1",
        webhook_port=port,
        reply_format="classic",
        conversation_ttl_days=TTL_DAYS,
        lane_lock_seconds=LOCK_S,
        allowed_chat_ids=f"{chat_id},{team}",
        group_context_messages=5,
    ):
        await stack.telegram.send_user_message(chat_id, ann, "slow one emu:echo emu:slow=60 emu:long=400")
        await stack.telegram.wait_for(lambda: bool(stack.telegram.drafts(chat_id)), timeout=20)
        seen |= check(await lifetimes(redis_client, prefix))  # while it streams: running, lane-lock, job
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 1, timeout=30)

        document: dict[str, Any] = {
            "file_name": "notes.md",
            "mime_type": "text/markdown",
            "content": b"# Herons",
        }
        await stack.telegram.send_user_message(chat_id, ann, document=document)
        await stack.telegram.send_user_message(team, ann, "herons are grey")  # unaddressed: chatter
        for _ in range(100):  # kept until a question hands it to the model
            if [key async for key in redis_client.scan_iter(match=f"{prefix}:chatter:*")]:
                break
            await asyncio.sleep(0.1)
        seen |= check(await lifetimes(redis_client, prefix))
        await stack.telegram.send_user_message(team, ann, f"{BOT} and what else? emu:echo")
        await stack.telegram.send_user_message(stranger_chat, stranger, "let me in")  # refused: access notice
        await stack.telegram.wait_for(lambda: bool(final_texts(stack.telegram, stranger_chat)), timeout=20)
        for _ in range(300):  # the document's record is written once it is indexed
            if [key async for key in redis_client.scan_iter(match=f"{prefix}:kb:*")]:
                break
            await asyncio.sleep(0.1)
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, team)) >= 2, timeout=30)
        await asyncio.sleep(1.0)
        seen |= check(await lifetimes(redis_client, prefix))
    # The doctor's Redis probe is deleted at once.
    doctor = await stack.run_cli("bot.doctor", stack.env())
    assert "Redis" in doctor.output, doctor.output
    assert [key async for key in redis_client.scan_iter(match=f"{prefix}:doctor:*")] == []
    expected = {
        r"conv:-?\d+:t\d+",
        r"transcript:-?\d+:t\d+",
        r"kb:-?\d+:t\d+",
        r"kb-activity",
        r"chatter:-?\d+:t\d+",
        r"access-notice:-?\d+",
        r"usage(-approx)?:(user|chat):-?\d+:\d{4}-?\d{2}-?\d{2}",
        r"lane-lock:.+",
        r"job:.+",
        r"update:\d+",
        r"running:-?\d+/\d+",
        r"heartbeat",
    }
    assert expected <= seen, f"not written by this run: {expected - seen}"
