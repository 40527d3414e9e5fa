"""One answer per conversation at a time, in order; conversations in parallel."""

from __future__ import annotations

import asyncio

from bot.core.scheduling import ChatScheduler


async def test_jobs_of_one_key_run_in_order_and_one_at_a_time() -> None:
    scheduler = ChatScheduler(max_pending_per_key=10)
    log: list[str] = []
    running = 0
    peak = 0

    def job(name: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            log.append(f"start {name}")
            await asyncio.sleep(0.01)
            log.append(f"end {name}")
            running -= 1

        return run

    for name in "abc":
        assert scheduler.submit("chat", job(name))
    await scheduler.close(deadline=5)
    assert log == ["start a", "end a", "start b", "end b", "start c", "end c"]
    assert peak == 1


async def test_different_keys_run_in_parallel() -> None:
    scheduler = ChatScheduler(max_pending_per_key=1)
    both_running = asyncio.Event()
    started: set[str] = set()

    def job(key: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            started.add(key)
            if len(started) == 2:
                both_running.set()
            await asyncio.wait_for(both_running.wait(), timeout=1)

        return run

    assert scheduler.submit("one", job("one"))
    assert scheduler.submit("two", job("two"))
    await scheduler.close(deadline=2)
    assert both_running.is_set()


async def test_queue_is_bounded_per_key_and_failures_do_not_stop_the_lane() -> None:
    scheduler = ChatScheduler(max_pending_per_key=2)
    done: list[int] = []
    release = asyncio.Event()

    async def blocker() -> None:
        await release.wait()

    async def failing() -> None:
        raise RuntimeError("boom")

    async def record() -> None:
        done.append(1)

    assert scheduler.submit("k", blocker)
    await asyncio.sleep(0)  # the blocker starts running and leaves the queue
    assert scheduler.submit("k", failing)
    assert scheduler.submit("k", record)
    assert not scheduler.submit("k", record)  # full
    release.set()
    await scheduler.close(deadline=2)
    assert done == [1]
    assert scheduler.active_lanes == 0


async def test_close_cancels_jobs_that_outlive_the_deadline() -> None:
    scheduler = ChatScheduler(max_pending_per_key=2)
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    scheduler.submit("k", forever)
    await asyncio.sleep(0)
    await scheduler.close(deadline=0.05)
    assert cancelled.is_set()
    assert not scheduler.submit("k", forever)
