"""Durable chat lanes against a real Redis: order, one job at a time per lane across replicas (two
runners on one Redis), idempotent job ids, lock heartbeat, and recovery of a dead replica's lane."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from bot.core.lanes import LOCK_LOST, Claim, LaneJob, LaneRunner, LaneSettings, NewJob, Release, Submitted
from bot.storage.keys import Namespace
from bot.storage.lanes import RedisLaneStore
from bot.storage.redis_typing import awaited

NS = Namespace(bot_id=4242)
FAST = LaneSettings(max_jobs=10, lock_seconds=1.0, order_grace=0.0, sweep_seconds=0.2)


def job(number: int, kind: str = "note") -> NewJob:
    return NewJob(job_id=f"{kind}:{number}", kind=kind, payload={"n": number}, order=number)


@pytest.fixture
async def store(redis_client: aioredis.Redis) -> RedisLaneStore:
    return RedisLaneStore(redis_client, NS)


@pytest.fixture
async def runners(store: RedisLaneStore) -> AsyncIterator[Callable[..., LaneRunner]]:
    made: list[LaneRunner] = []

    def make(owner: str, settings: LaneSettings = FAST) -> LaneRunner:
        runner = LaneRunner(store, owner=owner, settings=settings)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        await runner.close(deadline=2)


class Recorder:
    """A job handler recording runs and the peak number of jobs of one lane running at once."""

    def __init__(self, duration: float = 0.02) -> None:
        self.runs: list[tuple[str, int, int]] = []  # (lane, n, attempt)
        self.running: dict[str, int] = {}
        self.peak = 0
        self.duration = duration

    async def __call__(self, lane_job: LaneJob) -> None:
        lane = lane_job.lane
        self.running[lane] = self.running.get(lane, 0) + 1
        self.peak = max(self.peak, self.running[lane])
        try:
            await asyncio.sleep(self.duration)
            self.runs.append((lane, int(lane_job.payload["n"]), lane_job.attempt))
        finally:
            self.running[lane] -= 1


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_two_replicas_run_a_lanes_jobs_once_each_in_order_and_one_at_a_time(
    runners: Callable[..., LaneRunner],
) -> None:
    recorder = Recorder()
    a, b = runners("replica-a"), runners("replica-b")
    for runner in (a, b):
        runner.register("note", recorder)
        runner.start()
    # Deliveries of two chats alternate between the replicas, as a round-robin balancer does.
    for n in range(1, 9):
        for lane in ("chat-1", "chat-2"):
            assert await (a if n % 2 else b).submit(lane, job(n * 10 + int(lane[-1]))) is Submitted.ACCEPTED
    await wait_until(lambda: len(recorder.runs) == 16)
    assert recorder.peak == 1, "one job of a lane at a time, across replicas"
    for lane in ("chat-1", "chat-2"):
        numbers = [n for run_lane, n, _ in recorder.runs if run_lane == lane]
        assert numbers == sorted(numbers) and len(numbers) == 8
    assert all(attempt == 1 for *_, attempt in recorder.runs)


async def test_an_earlier_update_arriving_within_the_grace_runs_first(
    runners: Callable[..., LaneRunner],
) -> None:
    recorder = Recorder()
    settings = LaneSettings(max_jobs=10, lock_seconds=2.0, order_grace=0.3, sweep_seconds=0.2)
    a, b = runners("replica-a", settings), runners("replica-b", settings)
    for runner in (a, b):
        runner.register("note", recorder)
    assert await a.submit("chat", job(102)) is Submitted.ACCEPTED
    await asyncio.sleep(0.1)  # the earlier update reaches the other replica a little later
    assert await b.submit("chat", job(101)) is Submitted.ACCEPTED
    await wait_until(lambda: len(recorder.runs) == 2)
    assert [n for _, n, _ in recorder.runs] == [101, 102]


async def test_a_redelivered_job_is_accepted_once_even_after_it_ran(
    runners: Callable[..., LaneRunner],
) -> None:
    recorder = Recorder()
    a = runners("replica-a")
    a.register("note", recorder)
    assert await a.submit("chat", job(7)) is Submitted.ACCEPTED
    assert await a.submit("chat", job(7)) is Submitted.DUPLICATE
    await wait_until(lambda: len(recorder.runs) == 1 and a.active_lanes == 0)  # ran, lane let go
    assert await a.submit("chat", job(7)) is Submitted.DUPLICATE
    assert a.active_lanes == 0, "a duplicate takes no lock and starts no worker"
    assert len(recorder.runs) == 1


async def test_a_full_lane_refuses_more_jobs(runners: Callable[..., LaneRunner]) -> None:
    gate = asyncio.Event()

    async def blocked(_: LaneJob) -> None:
        await gate.wait()

    a = runners("replica-a", LaneSettings(max_jobs=2, lock_seconds=2.0, sweep_seconds=0.2))
    a.register("note", blocked)
    assert await a.submit("chat", job(1)) is Submitted.ACCEPTED
    assert await a.submit("chat", job(2)) is Submitted.ACCEPTED
    assert await a.submit("chat", job(3)) is Submitted.FULL
    assert await a.submit("other-chat", job(4)) is Submitted.ACCEPTED
    gate.set()


async def test_a_long_job_keeps_its_lock_by_heartbeat(runners: Callable[..., LaneRunner]) -> None:
    recorder = Recorder(duration=2.5)  # much longer than the 1 s lock
    a, b = runners("replica-a"), runners("replica-b")
    for runner in (a, b):
        runner.register("note", recorder)
        runner.start()
    await a.submit("chat", job(1))
    await wait_until(lambda: len(recorder.runs) == 1)
    await wait_until(lambda: a.active_lanes == 0 and b.active_lanes == 0)  # a takeover would still run
    assert recorder.runs == [("chat", 1, 1)], "the other replica never took the lane over"
    assert recorder.peak == 1


async def test_a_dead_replicas_job_is_resumed_elsewhere_with_its_progress(
    store: RedisLaneStore, runners: Callable[..., LaneRunner]
) -> None:
    # Replica "dead" accepted a job, started it, showed a message, then vanished (no release).
    result, locked = await store.enqueue("chat", job(5), max_jobs=5, owner="dead", lock_seconds=1)
    assert result is Submitted.ACCEPTED and locked
    claim = await store.next("chat", "dead", done=None, order_grace=0)
    assert claim.job is not None and claim.job.attempt == 1
    await store.message_shown(claim.job.job_id, 321)

    seen: list[LaneJob] = []

    async def handler(lane_job: LaneJob) -> None:
        seen.append(lane_job)

    survivor = runners("survivor")
    survivor.register("note", handler)
    survivor.start()
    await wait_until(lambda: len(seen) == 1)
    assert seen[0].attempt == 2
    assert seen[0].messages == (321,)
    assert not seen[0].finished


async def test_closing_finishes_the_running_job_and_leaves_queued_ones_to_another_replica(
    runners: Callable[..., LaneRunner],
) -> None:
    recorder = Recorder(duration=0.3)
    a = runners("replica-a")
    a.register("note", recorder)
    for n in (1, 2, 3):
        await a.submit("chat", job(n))
    await wait_until(lambda: recorder.running.get("chat") == 1)
    await a.close(deadline=5)
    assert [n for _, n, _ in recorder.runs] == [1]
    assert await a.submit("chat", job(4)) is Submitted.CLOSED

    b = runners("replica-b")
    b.register("note", recorder)
    b.start()
    await wait_until(lambda: len(recorder.runs) == 3)
    assert [n for _, n, _ in recorder.runs] == [1, 2, 3]
    assert all(attempt == 1 for *_, attempt in recorder.runs)


async def test_next_completes_claims_and_releases_only_for_the_lock_holder(store: RedisLaneStore) -> None:
    await store.enqueue("chat", job(1), max_jobs=5, owner="me", lock_seconds=5)
    await store.enqueue("chat", job(2), max_jobs=5, owner="me", lock_seconds=5)
    assert (await store.next("chat", "someone-else", done=None, order_grace=0)).ended is Release.LOST
    first = await store.next("chat", "me", done=None, order_grace=0)
    assert first.job is not None and first.job.order == 1 and first.job.attempt == 1
    second = await store.next("chat", "me", done=first.job.job_id, order_grace=0)
    assert second.job is not None and second.job.order == 2
    assert await store.enqueue("chat", job(1), max_jobs=5, owner="x", lock_seconds=5) == (
        Submitted.DUPLICATE,
        False,
    ), "a finished job's id stays taken"
    ended = await store.next("chat", "me", done=second.job.job_id, order_grace=0)
    assert ended.job is None and ended.ended is Release.RELEASED
    assert await store.acquire_orphans("other", 5, skip=set()) == [], "an empty lane is not swept"
    result, locked = await store.enqueue("chat", job(3), max_jobs=5, owner="other", lock_seconds=5)
    assert result is Submitted.ACCEPTED and locked, "the released lock goes to whoever enqueues next"


class LateWorkerStore(RedisLaneStore):
    """Holds the worker that has just let its lane go (its last `next` released the lock) until the
    test says so, and records every `release`: the next update's worker races a finishing one."""

    def __init__(self, redis: aioredis.Redis, ns: Namespace) -> None:
        super().__init__(redis, ns)
        self.lane_let_go = asyncio.Event()
        self.let_the_old_worker_finish = asyncio.Event()
        self.old_worker_finished = asyncio.Event()
        self.releases: list[str] = []

    async def next(self, lane: str, owner: str, *, done: str | None, order_grace: float) -> Claim:
        claim = await super().next(lane, owner, done=done, order_grace=order_grace)
        if done == "note:1":
            assert claim.ended is Release.RELEASED, "job 1 was the lane's last job: the lane is let go"
            self.lane_let_go.set()
            await self.let_the_old_worker_finish.wait()
            self.old_worker_finished.set()  # what it does next (its `finally`) runs without waiting
        return claim

    async def release(self, lane: str, owner: str) -> None:
        self.releases.append(owner)
        await super().release(lane, owner)


async def test_a_finished_worker_never_releases_the_next_workers_lock(
    redis_client: aioredis.Redis,
) -> None:
    store = LateWorkerStore(redis_client, NS)
    # A lock longer than the test: only a release, never an expiry, could take job 2's lock away.
    settings = LaneSettings(max_jobs=10, lock_seconds=30.0, order_grace=0.0, sweep_seconds=0.2)
    runner = LaneRunner(store, owner="replica-a", settings=settings)
    started = asyncio.Event()
    gate = asyncio.Event()

    async def handler(lane_job: LaneJob) -> None:
        if lane_job.order == 2:
            started.set()
            await gate.wait()

    runner.register("note", handler)
    lock_key = f"yab:{NS.bot_id}:lane-lock:chat"
    try:
        await runner.submit("chat", job(1))
        # Job 1 is done and its worker has let the lane go, but that worker has not finished yet.
        await asyncio.wait_for(store.lane_let_go.wait(), 5)
        await runner.submit("chat", job(2))  # the next update takes the free lane: a new worker
        await asyncio.wait_for(started.wait(), 5)
        job_2_lock = await redis_client.get(lock_key)
        assert job_2_lock is not None
        store.let_the_old_worker_finish.set()
        # Set from the old worker's task, which then runs on into its `finally` in the same step: a
        # `release` from there is recorded before this test resumes.
        await asyncio.wait_for(store.old_worker_finished.wait(), 5)
        assert await redis_client.get(lock_key) == job_2_lock, "job 2 keeps its lock"
        assert store.releases == [], "the old worker released nothing"
        gate.set()
    finally:
        store.let_the_old_worker_finish.set()
        gate.set()
        await runner.close(deadline=2)


async def test_a_worker_that_lost_its_lock_stops_its_job_and_leaves_it_to_the_new_holder(
    store: RedisLaneStore, redis_client: aioredis.Redis, runners: Callable[..., LaneRunner]
) -> None:
    cancelled: list[tuple[object, ...]] = []
    started = asyncio.Event()

    async def endless(_: LaneJob) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError as error:
            cancelled.append(error.args)
            raise

    a = runners("replica-a")
    a.register("note", endless)
    a.start()
    await a.submit("chat", job(1))
    await asyncio.wait_for(started.wait(), 5)
    # Another process took the lane over (as after a stall longer than the lock).
    await redis_client.set(f"yab:{NS.bot_id}:lane-lock:chat", "replica-b/0", px=5000)
    await wait_until(lambda: bool(cancelled), timeout=5)
    assert cancelled == [(LOCK_LOST,)]
    await wait_until(lambda: a.active_lanes == 0)  # the stopped worker has left, leaving the job queued
    claim = await store.next("chat", "replica-b/0", done=None, order_grace=0)
    assert claim.job is not None and claim.job.job_id == "note:1", "the job is still there to resume"
    assert claim.job.attempt == 2


async def test_the_sweeper_takes_only_lanes_with_jobs_and_forgets_empty_ones(
    store: RedisLaneStore, redis_client: aioredis.Redis
) -> None:
    await store.enqueue("busy", job(1), max_jobs=5, owner="dead", lock_seconds=0.05)
    await awaited(redis_client.sadd(f"yab:{NS.bot_id}:lanes", "emptied"))  # listed, but its jobs are gone
    await asyncio.sleep(0.1)
    assert await store.acquire_orphans("me", 5, skip=set()) == ["busy"]
    members = {m.decode() for m in await awaited(redis_client.smembers(f"yab:{NS.bot_id}:lanes"))}
    assert members == {"busy"}
