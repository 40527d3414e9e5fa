"""Shared lanes (groups) against a real Redis: each member within their share, members in turn."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.core.lanes import LAST_ORDER, NewJob, Submitted
from bot.storage.keys import Namespace
from bot.storage.lanes import RedisLaneStore

NS = Namespace(bot_id=4243)


def job(number: int, member: str | None) -> NewJob:
    return NewJob(job_id=f"q:{number}", kind="note", payload={"n": number}, order=number, member=member)


async def drain(store: RedisLaneStore, lane: str) -> list[int]:
    order: list[int] = []
    done: str | None = None
    for _ in range(1000):  # bounded: a lane that never empties fails instead of looping forever
        claim = await store.next(lane, "me", done=done, order_grace=0)
        if claim.job is None:
            return order
        order.append(claim.job.order)
        done = claim.job.job_id
    raise AssertionError("the lane never emptied")


async def test_members_take_turns_within_their_share(redis_client: aioredis.Redis) -> None:
    store = RedisLaneStore(redis_client, NS)

    async def submit(number: int, member: str | None) -> Submitted:
        result, _ = await store.enqueue(
            "group", job(number, member), max_jobs=10, owner="me", lock_seconds=5, max_member_jobs=3
        )
        return result

    assert [await submit(n, "mallory") for n in (1, 2, 3, 4, 5)] == [Submitted.ACCEPTED] * 3 + [
        Submitted.MEMBER_FULL
    ] * 2
    assert await submit(6, "ann") is Submitted.ACCEPTED
    assert await submit(7, "bob") is Submitted.ACCEPTED
    assert await submit(8, "ann") is Submitted.ACCEPTED
    assert await submit(9, None) is Submitted.ACCEPTED, "jobs of no member keep plain update order"
    assert await drain(store, "group") == [1, 6, 7, 9, 2, 8, 3]


async def test_the_lane_limit_still_holds_and_unordered_jobs_go_last(redis_client: aioredis.Redis) -> None:
    store = RedisLaneStore(redis_client, NS)
    late = NewJob(job_id="q:late", kind="note", payload={}, order=LAST_ORDER, member="ann")
    assert (await store.enqueue("g2", late, max_jobs=2, owner="me", lock_seconds=5, max_member_jobs=5))[
        0
    ] is (Submitted.ACCEPTED)
    assert (await store.enqueue("g2", job(2, "ann"), max_jobs=2, owner="me", lock_seconds=5))[0] is (
        Submitted.ACCEPTED
    )
    assert (await store.enqueue("g2", job(3, "bob"), max_jobs=2, owner="me", lock_seconds=5))[
        0
    ] is Submitted.FULL
    assert await drain(store, "g2") == [2, LAST_ORDER]
