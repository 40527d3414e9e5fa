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
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

log = logging.getLogger(__name__)

# Jobs without an update id go after every real update (ZSET scores are doubles: exact up to 2**53).
LAST_ORDER = 2**53
# The message of the CancelledError a job gets when its lane's lock went to another process: the job
# must stop without finalizing anything, since the other process resumes it from what was recorded.
LOCK_LOST = "lane lock lost"


def cancelled_for_lock_loss(error: BaseException) -> bool:
    return isinstance(error, asyncio.CancelledError) and LOCK_LOST in error.args


class JobDeferred(Exception):
    """A handler could not finish its job for now (its storage is unreachable): the job must stay
    queued. The worker gives the lane up without completing the job; the sweeper (here or on another
    replica) resumes it, with its attempt counted, once the lock can be taken again."""


@dataclass(frozen=True, slots=True)
class NewJob:
    job_id: str  # idempotency key: enqueuing the same id twice keeps one job
    kind: str
    payload: Mapping[str, Any]  # JSON-safe
    order: int  # the update id: a lane runs jobs in this order (each member's, see `member`)
    member: str | None = None
    """Who asked, in a lane several people share (a group): each member may hold at most
    `LaneSettings.max_member_jobs` jobs, and members take turns — a member's k-th waiting job runs
    after every other member's earlier ones, in update order among equals."""


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
    sending: bool = False  # an earlier attempt died sending a message: it may be on screen, id unknown


class Release(StrEnum):
    RELEASED = "released"
    LOST = "lost"  # another process holds the lock now


class Submitted(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # the same job id was already accepted (a redelivered update)
    FULL = "full"  # the lane holds too many jobs
    MEMBER_FULL = "member_full"  # the member who asked holds as many jobs as one member may
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
        self,
        lane: str,
        job: NewJob,
        *,
        max_jobs: int,
        owner: str,
        lock_seconds: float,
        max_member_jobs: int = 0,
    ) -> tuple[Submitted, bool]:
        """Store the job in its lane (in its member's turn, within the member's share: 0 = no
        limit); the bool says whether `owner` now holds the lane's lock."""
        ...

    async def next(self, lane: str, owner: str, *, done: str | None, order_grace: float) -> Claim:
        """Complete job `done` (if any), then, while `owner` holds the lock: the lane's first job with
        its attempt counted (unless younger than `order_grace`), or — the lane being empty — drop the
        lock. One atomic step, atomic with `enqueue` too, so no job is ever left unattended."""
        ...

    async def complete(self, lane: str, job_id: str) -> None: ...

    async def release(self, lane: str, owner: str) -> None: ...

    async def extend(self, locks: Mapping[str, str], lock_seconds: float) -> list[bool]:
        """Prolong each lane's lock held with the given token (lane → token), in mapping order."""
        ...

    async def acquire_orphans(self, owner: str, lock_seconds: float, skip: set[str]) -> list[str]:
        """Lock lanes that hold jobs but no lock (their replica died or stopped); returns them."""
        ...


class JobProgress(Protocol):
    """What a running job reports, so that a replica recovering it knows what the user already saw."""

    async def message_sending(self, job_id: str) -> None:
        """A new message is about to be sent; cleared by `message_shown` or `message_unsent`."""
        ...

    async def message_shown(self, job_id: str, message_id: int) -> None: ...

    async def message_unsent(self, job_id: str) -> None: ...

    async def finished(self, job_id: str) -> None: ...


JobHandler = Callable[[LaneJob], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class LaneSettings:
    max_jobs: int = 5  # per lane, including the running one
    max_member_jobs: int = 0  # per member of a shared lane, including a running one; 0 = no limit
    lock_seconds: float = 15.0
    order_grace: float = 0.0
    sweep_seconds: float = 2.0


@dataclass
class _Worker:
    """One lane being worked, under a lock token of its own: a worker that has let its lane go can
    never release or extend the lock of the next worker of the same lane in this process."""

    token: str
    task: asyncio.Task[None] | None = None
    lost: bool = False
    releasing: bool = False  # `next` may drop the lock on purpose (the lane looked empty)
    running_job: bool = False


@dataclass
class LaneRunner:
    store: LaneStore
    owner: str
    settings: LaneSettings = LaneSettings()
    _handlers: dict[str, JobHandler] = field(default_factory=dict)
    _workers: dict[str, _Worker] = field(default_factory=dict)
    _accepting: bool = True
    _keeper: asyncio.Task[None] | None = None
    _sweeper: asyncio.Task[None] | None = None
    _tokens: itertools.count[int] = field(default_factory=itertools.count)

    def _new_token(self) -> str:
        return f"{self.owner}/{next(self._tokens)}"

    def register(self, kind: str, handler: JobHandler) -> None:
        self._handlers[kind] = handler

    @property
    def active_lanes(self) -> int:
        return len(self._workers)

    async def submit(self, lane: str, job: NewJob) -> Submitted:
        if not self._accepting:
            return Submitted.CLOSED
        token = self._new_token()
        result, locked = await self.store.enqueue(
            lane,
            job,
            max_jobs=self.settings.max_jobs,
            owner=token,
            lock_seconds=self.settings.lock_seconds,
            max_member_jobs=self.settings.max_member_jobs,
        )
        if locked:
            self._start_worker(lane, token)
        return result

    def start(self) -> None:
        """Start the lock heartbeat and the sweeper (call once the handlers are registered)."""
        if self._keeper is None:
            self._keeper = asyncio.create_task(self._keep_locks(), name="lane-heartbeat")
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="lane-sweeper")

    def _start_worker(self, lane: str, token: str) -> None:
        """`token` has just taken the lane's lock."""
        current = self._workers.get(lane)
        if current is not None and not current.releasing and not current.lost:
            # This process still works the lane, but its lock had lapsed (a late heartbeat) and was
            # just taken again here: the worker carries on under the new token.
            log.warning("lane %s: lock lapsed and taken back", lane)
            current.token = token
            return
        # Otherwise a registered worker is letting the lane go (its last `next` releases it, or
        # finds it gone): it never touches the lane again and unregisters only itself.
        worker = _Worker(token)
        self._workers[lane] = worker
        worker.task = asyncio.create_task(self._work(lane, worker), name=f"lane:{lane}")

    async def _work(self, lane: str, worker: _Worker) -> None:
        done: str | None = None  # the job just run, completed by the next `next` call
        holds_lock = True
        try:
            while self._accepting and not worker.lost:
                worker.releasing = True
                claim = await self.store.next(
                    lane, worker.token, done=done, order_grace=self.settings.order_grace
                )
                worker.releasing = False
                done = None
                if claim.job is not None:
                    await self._run(claim.job, worker)
                    done = claim.job.job_id
                elif claim.wait > 0:
                    await asyncio.sleep(claim.wait)
                else:
                    holds_lock = False
                    if claim.ended is Release.LOST:
                        log.error("lost the lock of lane %s", lane)
                        worker.lost = True
                    return
        except asyncio.CancelledError:
            if worker.lost:
                return  # the lane is another process's now; this task just ends
            raise
        except Exception:
            # Storage trouble: give the lane up; the sweeper (here or elsewhere) resumes it.
            log.exception("lane %s stopped", lane)
        finally:
            if self._workers.get(lane) is worker:
                del self._workers[lane]
            if done is not None and not worker.lost:  # stopping right after a job: it is done
                await quietly(self.store.complete(lane, done), f"completing {done}")
            if holds_lock and not worker.lost:
                await quietly(self.store.release(lane, worker.token), f"releasing lane {lane}")

    async def _run(self, job: LaneJob, worker: _Worker) -> None:
        handler = self._handlers.get(job.kind)
        worker.running_job = True
        try:
            if handler is None:
                log.error("no handler for %s jobs; dropping %s", job.kind, job.job_id)
            else:
                await handler(job)
        except JobDeferred:
            # Not completed: completing it (the next `next` call would, as soon as Redis answers
            # again) would drop a question nobody has answered.
            log.warning("%s job %s deferred; its lane is left for the sweeper", job.kind, job.job_id)
            raise
        except asyncio.CancelledError as error:
            if not cancelled_for_lock_loss(error):
                # Shutdown cut the job; its handler has finalized what the user saw. Done, not re-run.
                await quietly(self.store.complete(job.lane, job.job_id), f"completing {job.job_id}")
            raise
        except Exception:
            log.exception("%s job %s failed", job.kind, job.job_id)
        finally:
            worker.running_job = False

    async def _keep_locks(self) -> None:
        """Prolong every lock this process holds, every third of the lock's lifetime. A loop of its
        own, so that sweeping (which may wait for a busy Redis pool) never delays a heartbeat."""
        interval = max(0.05, self.settings.lock_seconds / 3)
        last_beat = time.monotonic()
        while True:
            stalled = time.monotonic() - last_beat
            last_beat = time.monotonic()
            if stalled > self.settings.lock_seconds / 2:
                # The event loop was blocked (CPU starvation, a slow synchronous call): locks may lapse.
                log.warning("lane heartbeat came %.1fs late", stalled - interval)
            try:
                workers = dict(self._workers)
                if workers:
                    locks = {lane: worker.token for lane, worker in workers.items()}
                    kept = await self.store.extend(locks, self.settings.lock_seconds)
                    for (lane, worker), still_ours in zip(workers.items(), kept, strict=True):
                        # Judged only if still this lane's worker, under the token just extended.
                        current = self._workers.get(lane) is worker and worker.token == locks[lane]
                        if not still_ours and current and not (worker.lost or worker.releasing):
                            self._lost(lane, worker)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("lane heartbeat: %s", type(error).__name__)
            await asyncio.sleep(interval)

    async def _sweep(self) -> None:
        """Take up lanes that hold jobs but no live lock: their process died or stopped."""
        while self._accepting:
            try:
                token = self._new_token()
                orphans = await self.store.acquire_orphans(
                    token, self.settings.lock_seconds, skip=set(self._workers)
                )
                for lane in orphans:
                    log.info("resuming lane %s left by another process", lane)
                    self._start_worker(lane, token)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("lane sweeper: %s", type(error).__name__)
            await asyncio.sleep(self.settings.sweep_seconds)

    def _lost(self, lane: str, worker: _Worker) -> None:
        """Another process holds the lane now (this one stalled past the lock's lifetime) and will
        resume its job from what was recorded: stop the job at once, finalizing nothing, so the user
        does not get its answer twice."""
        log.error("lost the lock of lane %s; leaving its job to the process that took it", lane)
        worker.lost = True
        if worker.running_job and worker.task is not None:
            worker.task.cancel(LOCK_LOST)

    async def close(self, deadline: float) -> None:
        """Stop taking jobs; let running ones finish within `deadline` s, cancel the rest; release locks."""
        self._accepting = False
        workers = [worker.task for worker in self._workers.values() if worker.task is not None]
        if workers:
            _, still_running = await asyncio.wait(workers, timeout=deadline)
            for task in still_running:
                task.cancel()
            await asyncio.gather(*still_running, return_exceptions=True)
        for loop in (self._keeper, self._sweeper):
            if loop is not None:
                loop.cancel()
                await asyncio.gather(loop, return_exceptions=True)


async def quietly(operation: Awaitable[object], what: str) -> None:
    """Await a best-effort step (cleanup, bookkeeping): a failure is logged, never raised."""
    try:
        await operation
    except Exception as error:
        log.warning("%s failed: %s", what, type(error).__name__)
