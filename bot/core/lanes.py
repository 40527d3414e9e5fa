"""Durable chat lanes: one job per conversation at a time, in update order, on any replica.

Every accepted job (an answer, a document batch) is written to shared storage *before* the update is
acknowledged, in its conversation's lane, ordered by update id. The replica that holds the lane's
lock runs the lane's jobs one by one; the lock carries a heartbeat, so a long answer keeps it, while a
killed replica loses it within `lock_seconds`. Lanes whose lock is free but which still hold jobs are
picked up by any replica's sweeper — that is how an answer interrupted by a crash is finished (or
apologised for) elsewhere. A job's `attempt` tells its handler whether an earlier run was interrupted.

Ordering across replicas: deliveries of one chat may reach two replicas at nearly the same time, so a
lane waits `order_grace` after a job was enqueued before starting it; an earlier update arriving in
that window runs first.

Worker and sweeper tasks are owned here (no fire-and-forget): `close()` lets running jobs finish
within a deadline, cancels the rest and releases the locks; queued jobs stay in storage for another
replica or the next start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

log = logging.getLogger(__name__)

# Jobs without an update id go after every real update (ZSET scores are doubles: exact up to 2**53).
LAST_ORDER = 2**53


@dataclass(frozen=True, slots=True)
class NewJob:
    job_id: str  # idempotency key: enqueuing the same id twice keeps one job
    kind: str
    payload: Mapping[str, Any]  # JSON-safe
    order: int  # the update id: a lane runs jobs in this order


@dataclass(frozen=True, slots=True)
class LaneJob:
    lane: str
    job_id: str
    kind: str
    payload: Mapping[str, Any]
    order: int
    attempt: int  # 1 on the first run; more means an earlier run was interrupted
    messages: tuple[int, ...] = ()  # ids of messages an earlier attempt showed to the user
    finished: bool = False  # an earlier attempt already delivered its final text


class Release(StrEnum):
    RELEASED = "released"
    LOST = "lost"  # another process holds the lock now


class Submitted(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # the same job id was already accepted (a redelivered update)
    FULL = "full"  # the lane holds too many jobs
    CLOSED = "closed"  # this process is shutting down


@dataclass(frozen=True, slots=True)
class Claim:
    """The lane's next job; else how long to wait before it may start (`wait` > 0); else how the
    lane ended for this worker (`ended`: its lock released, the lane being empty, or lost)."""

    job: LaneJob | None
    wait: float = 0.0
    ended: Release | None = None


class LaneStore(Protocol):
    async def enqueue(
        self, lane: str, job: NewJob, *, max_jobs: int, owner: str, lock_seconds: float
    ) -> tuple[Submitted, bool]:
        """Store the job in its lane; the bool says whether `owner` now holds the lane's lock."""
        ...

    async def next(self, lane: str, owner: str, *, done: str | None, order_grace: float) -> Claim:
        """Complete job `done` (if any), then, while `owner` holds the lock: the lane's first job with
        its attempt counted (unless younger than `order_grace`), or — the lane being empty — drop the
        lock. One atomic step, atomic with `enqueue` too, so no job is ever left unattended."""
        ...

    async def complete(self, lane: str, job_id: str) -> None: ...

    async def release(self, lane: str, owner: str) -> None: ...

    async def extend(self, lanes: list[str], owner: str, lock_seconds: float) -> list[bool]: ...

    async def acquire_orphans(self, owner: str, lock_seconds: float, skip: set[str]) -> list[str]:
        """Lock lanes that hold jobs but no lock (their replica died or stopped); returns them."""
        ...


class JobProgress(Protocol):
    """What a running job reports, so that a replica recovering it knows what the user already saw."""

    async def message_shown(self, job_id: str, message_id: int) -> None: ...

    async def finished(self, job_id: str) -> None: ...


JobHandler = Callable[[LaneJob], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class LaneSettings:
    max_jobs: int = 5  # per lane, including the running one
    lock_seconds: float = 15.0
    order_grace: float = 0.0
    sweep_seconds: float = 2.0


@dataclass
class _Worker:
    task: asyncio.Task[None]
    lost: bool = False
    releasing: bool = False  # the lane looked empty: its lock is being dropped on purpose


@dataclass
class LaneRunner:
    store: LaneStore
    owner: str
    settings: LaneSettings = LaneSettings()
    _handlers: dict[str, JobHandler] = field(default_factory=dict)
    _workers: dict[str, _Worker] = field(default_factory=dict)
    _accepting: bool = True
    _keeper: asyncio.Task[None] | None = None

    def register(self, kind: str, handler: JobHandler) -> None:
        self._handlers[kind] = handler

    @property
    def active_lanes(self) -> int:
        return len(self._workers)

    async def submit(self, lane: str, job: NewJob) -> Submitted:
        if not self._accepting:
            return Submitted.CLOSED
        result, locked = await self.store.enqueue(
            lane,
            job,
            max_jobs=self.settings.max_jobs,
            owner=self.owner,
            lock_seconds=self.settings.lock_seconds,
        )
        if locked:
            self._start_worker(lane)
        return result

    def start(self) -> None:
        """Start the lock keeper and sweeper (call once the handlers are registered)."""
        if self._keeper is None:
            self._keeper = asyncio.create_task(self._keep_locks_and_sweep(), name="lane-keeper")

    def _start_worker(self, lane: str) -> None:
        if lane in self._workers:
            # Cannot happen while we hold the lock; a stale worker would run the lane twice.
            log.warning("lane %s already has a worker", lane)
            return
        task = asyncio.create_task(self._work(lane), name=f"lane:{lane}")
        self._workers[lane] = _Worker(task)

    async def _work(self, lane: str) -> None:
        worker = self._workers[lane]
        done: str | None = None  # the job just run, completed by the next `next` call
        try:
            while self._accepting and not worker.lost:
                worker.releasing = True  # `next` may drop the lock: the keeper must not cry wolf
                claim = await self.store.next(
                    lane, self.owner, done=done, order_grace=self.settings.order_grace
                )
                worker.releasing = False
                done = None
                if claim.job is not None:
                    await self._run(claim.job)
                    done = claim.job.job_id
                elif claim.wait > 0:
                    await asyncio.sleep(claim.wait)
                else:
                    if claim.ended is Release.LOST:
                        log.error("lost the lock of lane %s", lane)
                    worker.lost = claim.ended is Release.LOST
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            # Storage trouble: give the lane up; the sweeper (here or elsewhere) resumes it.
            log.exception("lane %s stopped", lane)
        finally:
            del self._workers[lane]
            if done is not None:  # stopping right after a job: it is done all the same
                await _quietly(self.store.complete(lane, done), f"completing {done}")
            if not worker.lost:
                await _quietly(self.store.release(lane, self.owner), f"releasing lane {lane}")

    async def _run(self, job: LaneJob) -> None:
        handler = self._handlers.get(job.kind)
        try:
            if handler is None:
                log.error("no handler for %s jobs; dropping %s", job.kind, job.job_id)
            else:
                await handler(job)
        except asyncio.CancelledError:
            # Shutdown cut the job; its handler has finalized what the user saw. Done, not re-run.
            await _quietly(self.store.complete(job.lane, job.job_id), f"completing {job.job_id}")
            raise
        except Exception:
            log.exception("%s job %s failed", job.kind, job.job_id)

    async def _keep_locks_and_sweep(self) -> None:
        interval = max(0.05, min(self.settings.lock_seconds / 3, self.settings.sweep_seconds))
        next_sweep = 0.0
        last_beat = time.monotonic()
        while True:
            stalled = time.monotonic() - last_beat
            last_beat = time.monotonic()
            if stalled > self.settings.lock_seconds / 2:
                # The event loop was blocked (CPU starvation, a slow synchronous call): locks may lapse.
                log.warning("lane heartbeat came %.1fs late", stalled - interval)
            try:
                lanes = list(self._workers)
                if lanes:
                    kept = await self.store.extend(lanes, self.owner, self.settings.lock_seconds)
                    for lane, still_ours in zip(lanes, kept, strict=True):
                        worker = self._workers.get(lane)
                        if not still_ours and worker is not None and not (worker.lost or worker.releasing):
                            # Another replica took the lane over (we were stalled past the lock's
                            # lifetime): finish the current job but take no further one.
                            log.error("lost the lock of lane %s", lane)
                            worker.lost = True
                if self._accepting and time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.settings.sweep_seconds
                    orphans = await self.store.acquire_orphans(
                        self.owner, self.settings.lock_seconds, skip=set(self._workers)
                    )
                    for lane in orphans:
                        log.info("resuming lane %s left by another process", lane)
                        self._start_worker(lane)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("lane keeper: %s", type(error).__name__)
            await asyncio.sleep(interval)

    async def close(self, deadline: float) -> None:
        """Stop taking jobs; let running ones finish within `deadline` s, cancel the rest; release locks."""
        self._accepting = False
        workers = [worker.task for worker in self._workers.values()]
        if workers:
            _, still_running = await asyncio.wait(workers, timeout=deadline)
            for task in still_running:
                task.cancel()
            await asyncio.gather(*still_running, return_exceptions=True)
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)


async def _quietly(operation: Awaitable[object], what: str) -> None:
    try:
        await operation
    except Exception as error:
        log.warning("%s failed: %s", what, type(error).__name__)
