"""The output budgets shared through Redis: two stores stand for two replicas on one real Redis."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.core.output_limits import Kind, LocalOutputState, OutputLimits, Priority, TurnRequest
from bot.storage.keys import Namespace
from bot.storage.telegram_budget import RedisOutputStore
from bot.telegram.budget import MAX_BATCH, OutputScheduler

NS = Namespace(bot_id=4242)
UNREACHABLE_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
FINAL, FIRST, FRAME = Priority.FINAL, Priority.FIRST_FRAME, Priority.FRAME


def pair(redis: aioredis.Redis, limits: OutputLimits) -> tuple[RedisOutputStore, RedisOutputStore]:
    return RedisOutputStore(redis, NS, limits), RedisOutputStore(redis, NS, limits)


def request(
    chat_id: int, kind: Kind = Kind.MESSAGE, priority: Priority = FINAL, *, group: bool = False
) -> TurnRequest:
    return TurnRequest(chat_id, kind, group, priority)


async def granted(store: RedisOutputStore, req: TurnRequest) -> bool:
    return (await store.decide([req]))[0].granted


async def test_two_replicas_never_exceed_one_chats_rate_together(redis_client: aioredis.Redis) -> None:
    limits = OutputLimits(chat_burst=2, chat_per_s=5.0, global_per_s=1000.0, margin=0.0)
    a, b = pair(redis_client, limits)
    started = time.monotonic()
    taken = 0
    while (elapsed := time.monotonic() - started) < 1.0:
        for store in (a, b):
            taken += await granted(store, request(1))
        await asyncio.sleep(0.005)
    # One process alone would allow 2 + 5/s; two processes together must not allow more.
    assert 2 + 5 * 1.0 - 1 <= taken <= 2 + 5 * elapsed + 1e-9
    assert a.fallbacks == b.fallbacks == 0


async def test_the_global_slots_are_shared_by_replicas_and_drafts(redis_client: aioredis.Redis) -> None:
    a, b = pair(redis_client, OutputLimits(global_per_s=10.0, margin=0.0, final_horizon_s=0.5))
    waits: list[float] = []
    for store, kind in ((a, Kind.MESSAGE), (b, Kind.DRAFT), (a, Kind.DRAFT), (b, Kind.MESSAGE)):
        (grant,) = await store.decide([request(len(waits) + 1, kind)])
        assert grant.granted
        waits.append(grant.wait_s)
    # One slot every 0.1 s whoever asks and whatever the kind: a rolling second never holds more than 10.
    assert waits[0] < 0.01 and all(
        0.08 < later - earlier < 0.11 for earlier, later in itertools.pairwise(waits)
    )


async def test_the_group_window_and_final_reserve_hold_across_replicas(redis_client: aioredis.Redis) -> None:
    limits = OutputLimits(chat_burst=100, chat_per_s=100.0, group_per_minute=5, global_per_s=1000.0)
    a, b = pair(redis_client, limits)
    frames = 0
    for store in (a, b, a, b):
        frames += await granted(store, request(-100, priority=FRAME, group=True))
    assert frames == 2  # three slots stay free for final texts, whichever replica sends frames
    assert all([await granted(s, request(-100, group=True)) for s in (a, b, a)])
    (refused,) = await b.decide([request(-100, group=True)])
    assert not refused.granted and refused.wait_s > 60
    assert await granted(a, request(5))  # a private chat is not windowed


async def test_a_429_seen_by_one_replica_pauses_and_teaches_the_other(redis_client: aioredis.Redis) -> None:
    limits = OutputLimits(global_per_s=1000.0)
    a, b = pair(redis_client, limits)
    await a.penalise(7, Kind.DRAFT, 0.3)
    (paused,) = await b.decide([request(7, Kind.DRAFT, FRAME)])
    # The 429 emptied the draft bucket and halved the rate (2/s less 10 %, halved: one per 1.1 s),
    # which outlasts the pause of 0.3 s.
    assert not paused.granted and 1.0 < paused.wait_s <= 1.12
    assert await granted(b, request(7, Kind.MESSAGE))  # messages are another family
    await asyncio.sleep(0.3)  # the draft 429's retry_after is over: a 429 now is no sign of a global one
    # Two chats refused within one retry_after: the bot-wide limit, the whole bot waits.
    await a.penalise(8, Kind.MESSAGE, 0.5)
    await b.penalise(9, Kind.MESSAGE, 0.5)
    (everyone,) = await a.decide([request(10)])
    assert not everyone.granted and everyone.wait_s > 0.4


async def test_a_migrated_group_keeps_its_spent_budget(redis_client: aioredis.Redis) -> None:
    limits = OutputLimits(chat_burst=100, chat_per_s=100.0, group_per_minute=2, global_per_s=1000.0)
    a, b = pair(redis_client, limits)
    assert await granted(a, request(-5, group=True))
    assert await granted(a, request(-5, group=True))
    await a.penalise(-5, Kind.MESSAGE, 5)
    await a.move_chat(-5, -1005)
    (moved,) = await b.decide([request(-1005, group=True)])
    assert not moved.granted and moved.wait_s > 4
    assert await granted(b, request(-5, group=True))  # the old id starts afresh


async def test_redis_and_the_local_fallback_decide_alike(redis_client: aioredis.Redis) -> None:
    limits = OutputLimits(group_per_minute=4)
    shared = RedisOutputStore(redis_client, NS, limits)
    local = LocalOutputState(limits, time.monotonic)
    script = [
        request(c, kind, priority, group=c < 0)
        for c in (1, 2, -3)
        for kind in (Kind.MESSAGE, Kind.DRAFT)
        for priority in (FIRST, FRAME, FRAME, FINAL, FINAL, FRAME)
        if not (c < 0 and kind is Kind.DRAFT)
    ]
    remote = await shared.decide(script, lead_s=0.05)
    here = local.decide(script, lead_s=0.05)
    assert [g.granted for g in remote] == [g.granted for g in here]
    assert [g.bot_wide for g in remote] == [g.bot_wide for g in here]
    assert any(g.bot_wide for g in here) and any(not g.granted and not g.bot_wide for g in here)
    assert all(abs(r.wait_s - h.wait_s) < 0.05 for r, h in zip(remote, here, strict=True))


async def test_every_key_is_namespaced_and_expires(redis_client: aioredis.Redis) -> None:
    store = RedisOutputStore(redis_client, NS, OutputLimits(group_per_minute=5, group_window_s=2.0))
    await store.decide([request(-100, group=True), request(1, Kind.DRAFT, FRAME)])
    await store.penalise(1, Kind.DRAFT, 1)
    keys = sorted(k.decode() for k in await redis_client.keys("*"))
    assert keys == [
        f"{NS.prefix}:tg-rate:chat:-100",
        f"{NS.prefix}:tg-rate:dlearn:1",
        f"{NS.prefix}:tg-rate:dpause:1",
        f"{NS.prefix}:tg-rate:draft:1",
        f"{NS.prefix}:tg-rate:global:last429",
        f"{NS.prefix}:tg-rate:global:tat",
        f"{NS.prefix}:tg-rate:window:-100",
    ]
    for key in keys:
        ttl = await redis_client.pttl(key)
        assert 0 < ttl <= 600_000, key  # the learnt factor lives longest: until it has climbed back


async def test_one_round_trip_per_decision_for_a_batch_of_requests(redis_url: str) -> None:
    calls: list[str] = []

    class Counting(aioredis.Redis):
        async def execute_command(self, *args: Any, **options: Any) -> Any:
            calls.append(str(args[0]))
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped

    client: aioredis.Redis = Counting.from_url(redis_url)
    try:
        limits = OutputLimits(global_per_s=1000.0)
        scheduler = OutputScheduler(RedisOutputStore(client, NS, limits), limits)
        await scheduler.turn(1, Kind.MESSAGE, is_group=True)  # loads the script once
        calls.clear()
        # A batch of requests waiting together is decided in one round trip (up to the batch size).
        grants = await asyncio.gather(
            *(
                scheduler.acquire(c, Kind.DRAFT, is_group=False, priority=FIRST)
                for c in range(2, 2 + MAX_BATCH)
            )
        )
        assert calls == ["EVALSHA"]
        assert all(grant is not None and grant.granted for grant in grants)
        calls.clear()
        await scheduler.acquire(50, Kind.DRAFT, is_group=False, priority=FRAME)
        await scheduler.penalise(50, Kind.DRAFT, 0.01)
        await scheduler.move_chat(51, 52)
        assert calls == ["EVALSHA"] * 3
    finally:
        await client.aclose()


async def test_falls_back_to_this_process_when_redis_is_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client: aioredis.Redis = aioredis.Redis.from_url(
        UNREACHABLE_URL, socket_connect_timeout=0.2, socket_timeout=0.2
    )
    try:
        store = RedisOutputStore(client, NS, OutputLimits(chat_burst=2, chat_per_s=20.0))
        with caplog.at_level(logging.WARNING, logger="bot.storage.telegram_budget"):
            # Still a budget, decided locally: the burst, then no more.
            grants = await store.decide([request(1), request(1), request(1)])
            assert [g.granted for g in grants] == [True, True, False]
            await store.penalise(2, Kind.MESSAGE, 0.2)
            assert not await granted(store, request(2))
            await store.move_chat(2, 3)
            assert not await granted(store, request(3))
        assert store.fallbacks >= 5
        warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
        assert len(warnings) == 1  # at most one warning a minute
    finally:
        await client.aclose()


async def test_a_decision_read_late_keeps_its_own_time(
    redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisOutputStore(redis_client, NS, OutputLimits())
    await store.decide([request(1)])  # a quick round trip: it tells the offset between the clocks
    script = store._decide

    async def read_late(*args: Any, **kwargs: Any) -> Any:
        reply = await script(*args, **kwargs)
        await asyncio.sleep(0.1)  # the reply waited in a busy event loop before anyone read it
        return reply

    monkeypatch.setattr(store, "_decide", read_late)
    asked_at = time.monotonic()
    (grant,) = await store.decide([request(2)])
    # The slot counts from the decision, not from the reading: a caller that waited until 0.1 s
    # later would send late, next to the calls booked after it.
    assert grant.granted and grant.decided_at - asked_at < 0.05
    assert grant.late_by(time.monotonic()) > 0.05
