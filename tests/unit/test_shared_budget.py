"""The Telegram rate budget shared through Redis: two instances stand for two replicas on one real Redis."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.storage.keys import Namespace
from bot.storage.telegram_budget import RedisTelegramBudget
from bot.telegram.budget import BudgetConfig, Kind

NS = Namespace(bot_id=4242)
UNREACHABLE_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def pair(redis: aioredis.Redis, config: BudgetConfig) -> tuple[RedisTelegramBudget, RedisTelegramBudget]:
    return RedisTelegramBudget(redis, NS, config), RedisTelegramBudget(redis, NS, config)


async def test_two_replicas_never_exceed_one_chats_rate_together(redis_client: aioredis.Redis) -> None:
    config = BudgetConfig(chat_burst=2, chat_rate_per_s=5.0, global_burst=100, global_rate_per_s=100.0)
    a, b = pair(redis_client, config)
    started = time.monotonic()
    taken = 0
    while (elapsed := time.monotonic() - started) < 1.0:
        for budget in (a, b):
            taken += await budget.try_take(1, Kind.MESSAGE, is_group=False)
        await asyncio.sleep(0.005)
    # One process alone would allow 2 + 5/s; two processes together must not allow more.
    assert 2 + 5 * 1.0 - 1 <= taken <= 2 + 5 * elapsed + 1e-9
    assert a.fallbacks == b.fallbacks == 0


async def test_waiting_takes_on_two_replicas_are_paced_together(redis_client: aioredis.Redis) -> None:
    config = BudgetConfig(chat_burst=2, chat_rate_per_s=10.0, global_burst=100, global_rate_per_s=100.0)
    a, b = pair(redis_client, config)
    stamps: list[float] = []

    async def send(budget: RedisTelegramBudget, count: int) -> None:
        for _ in range(count):
            await budget.take(1, Kind.MESSAGE, is_group=False)
            stamps.append(time.monotonic())

    started = time.monotonic()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(send(a, 8))
        tasks.create_task(send(b, 8))
    # 16 operations with a burst of 2 at 10/s need at least 1.4 s, whoever sends them.
    assert time.monotonic() - started >= 1.4 - 0.05
    # And in any second at most burst + rate of them went out.
    stamps.sort()
    for i, first in enumerate(stamps):
        assert sum(1 for s in stamps[i:] if s - first < 1.0) <= 2 + 10


async def test_the_global_budget_spans_chats_and_replicas(redis_client: aioredis.Redis) -> None:
    a, b = pair(redis_client, BudgetConfig(global_burst=3, global_rate_per_s=1.0))
    assert await a.try_take(1, Kind.MESSAGE, is_group=False)
    assert await b.try_take(2, Kind.MESSAGE, is_group=False)
    assert await a.try_take(3, Kind.MESSAGE, is_group=False)
    assert not await b.try_take(4, Kind.MESSAGE, is_group=False)
    assert 0.9 < await b.delay(4, Kind.MESSAGE, is_group=False) <= 1.0
    assert await b.try_take(4, Kind.DRAFT, is_group=False)  # drafts are not counted globally


async def test_the_group_window_and_final_reserve_hold_across_replicas(redis_client: aioredis.Redis) -> None:
    config = BudgetConfig(chat_burst=100, chat_rate_per_s=100.0, group_per_minute=5, global_burst=100)
    a, b = pair(redis_client, config)
    frames = 0
    for budget in (a, b, a, b, a, b):
        frames += await budget.try_take(-100, Kind.MESSAGE, is_group=True, reserve=1)
    assert frames == 4  # one slot stays free for the final text, whichever replica sends frames
    assert await b.try_take(-100, Kind.MESSAGE, is_group=True)  # the final may use it
    assert not await a.try_take(-100, Kind.MESSAGE, is_group=True)
    assert await a.delay(-100, Kind.MESSAGE, is_group=True) > 59
    # A private chat is not windowed.
    assert await a.try_take(5, Kind.MESSAGE, is_group=False)


async def test_the_group_window_rolls(redis_client: aioredis.Redis) -> None:
    config = BudgetConfig(
        chat_burst=100, chat_rate_per_s=100.0, group_per_minute=2, group_window_s=0.5, global_burst=100
    )
    a, b = pair(redis_client, config)
    assert await a.try_take(-100, Kind.MESSAGE, is_group=True)
    assert await b.try_take(-100, Kind.MESSAGE, is_group=True)
    assert not await a.try_take(-100, Kind.MESSAGE, is_group=True)
    wait = await b.delay(-100, Kind.MESSAGE, is_group=True)
    assert 0.3 < wait <= 0.5
    await asyncio.sleep(wait + 0.02)
    assert await a.try_take(-100, Kind.MESSAGE, is_group=True)


async def test_a_pause_set_by_one_replica_is_honoured_by_the_other(redis_client: aioredis.Redis) -> None:
    a, b = pair(redis_client, BudgetConfig())
    await a.pause_chat(7, 0.4)
    assert not await b.try_take(7, Kind.MESSAGE, is_group=False)
    assert not await b.try_take(7, Kind.DRAFT, is_group=False)
    assert 0.3 < await b.delay(7, Kind.DRAFT, is_group=False) <= 0.45
    assert await b.try_take(8, Kind.MESSAGE, is_group=False)
    await b.pause_chat(7, 0.1)  # a shorter pause does not shorten the longer one
    assert await a.delay(7, Kind.MESSAGE, is_group=False) > 0.2
    started = time.monotonic()
    await b.take(7, Kind.MESSAGE, is_group=False)  # waits the pause out
    assert time.monotonic() - started > 0.2


async def test_a_migrated_group_keeps_its_spent_budget(redis_client: aioredis.Redis) -> None:
    config = BudgetConfig(chat_burst=100, chat_rate_per_s=100.0, group_per_minute=2, global_burst=100)
    a, b = pair(redis_client, config)
    assert await a.try_take(-5, Kind.MESSAGE, is_group=True)
    assert await a.try_take(-5, Kind.MESSAGE, is_group=True)
    await a.pause_chat(-5, 5)
    await a.move_chat(-5, -1005)
    assert await b.delay(-1005, Kind.MESSAGE, is_group=True) > 4
    assert await b.try_take(-5, Kind.MESSAGE, is_group=True)  # the old id starts afresh


async def test_every_key_is_namespaced_and_expires(redis_client: aioredis.Redis) -> None:
    config = BudgetConfig(group_per_minute=5, group_window_s=2.0)
    budget = RedisTelegramBudget(redis_client, NS, config)
    await budget.take(-100, Kind.MESSAGE, is_group=True)
    await budget.take(1, Kind.DRAFT, is_group=False)
    await budget.pause_chat(1, 1)
    keys = sorted(k.decode() for k in await redis_client.keys("*"))
    assert keys == [
        f"{NS.prefix}:tg-rate:chat:-100",
        f"{NS.prefix}:tg-rate:draft:1",
        f"{NS.prefix}:tg-rate:global",
        f"{NS.prefix}:tg-rate:pause:1",
        f"{NS.prefix}:tg-rate:window:-100",
    ]
    for key in keys:
        ttl = await redis_client.pttl(key)
        # Buckets live until they would be full again (+1 s), the window one span (+1 s).
        assert 0 < ttl <= 3100, key


async def test_one_round_trip_per_decision(redis_url: str, redis_client: aioredis.Redis) -> None:
    calls: list[str] = []

    class Counting(aioredis.Redis):
        async def execute_command(self, *args: Any, **options: Any) -> Any:
            calls.append(str(args[0]))
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped

    client: aioredis.Redis = Counting.from_url(redis_url)
    try:
        budget = RedisTelegramBudget(client, NS, BudgetConfig())
        await budget.delay(1, Kind.MESSAGE, is_group=True)  # loads the script once
        await budget.pause_chat(2, 0.01)
        await budget.move_chat(3, 4)
        calls.clear()
        assert await budget.try_take(1, Kind.MESSAGE, is_group=True, reserve=1)
        await budget.take(1, Kind.MESSAGE, is_group=True)
        await budget.delay(1, Kind.MESSAGE, is_group=True)
        await budget.pause_chat(2, 0.01)
        await budget.move_chat(3, 4)
        assert calls == ["EVALSHA"] * 5
        calls.clear()
        # A take that has to wait books its turn: still one round trip, however long the wait.
        waiting = [budget.take(9, Kind.MESSAGE, is_group=False) for _ in range(4)]
        started = time.monotonic()
        await asyncio.gather(*waiting)
        assert calls == ["EVALSHA"] * 4
        assert time.monotonic() - started >= 1.5, "four sends at 0.9/s after a burst of two wait ~2.2 s"
    finally:
        await client.aclose()


async def test_falls_back_to_this_process_when_redis_is_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client: aioredis.Redis = aioredis.Redis.from_url(
        UNREACHABLE_URL, socket_connect_timeout=0.2, socket_timeout=0.2
    )
    try:
        budget = RedisTelegramBudget(client, NS, BudgetConfig(chat_burst=2, chat_rate_per_s=20.0))
        with caplog.at_level(logging.WARNING, logger="bot.storage.telegram_budget"):
            # Still a budget, decided locally: the burst, then no more.
            assert await budget.try_take(1, Kind.MESSAGE, is_group=False)
            assert await budget.try_take(1, Kind.MESSAGE, is_group=False)
            assert not await budget.try_take(1, Kind.MESSAGE, is_group=False)
            assert await budget.delay(1, Kind.MESSAGE, is_group=False) > 0
            await budget.take(1, Kind.MESSAGE, is_group=False)  # waits for the local bucket
            await budget.pause_chat(2, 0.2)
            assert not await budget.try_take(2, Kind.MESSAGE, is_group=False)
            await budget.move_chat(2, 3)
            assert not await budget.try_take(3, Kind.MESSAGE, is_group=False)
        assert budget.fallbacks >= 8
        warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
        assert len(warnings) == 1  # at most one warning a minute
    finally:
        await client.aclose()
