"""One answer per conversation at a time; conversations run in parallel.

Each conversation key gets a bounded FIFO of jobs and, while it has work, one worker task. Worker
tasks are owned by the scheduler (no fire-and-forget): failures are logged, and `close()` drains
the queues within a deadline and cancels what is left.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


@dataclass
class _Lane:
    jobs: deque[Job] = field(default_factory=deque)
    worker: asyncio.Task[None] | None = None


class ChatScheduler:
    def __init__(self, max_pending_per_key: int) -> None:
        self._max_pending = max_pending_per_key
        self._lanes: dict[Hashable, _Lane] = {}
        self._accepting = True

    def submit(self, key: Hashable, job: Job) -> bool:
        """Queue a job behind the key's running one. False when the key's queue is full or closing."""
        if not self._accepting:
            return False
        lane = self._lanes.setdefault(key, _Lane())
        if len(lane.jobs) >= self._max_pending:
            return False
        lane.jobs.append(job)
        if lane.worker is None:
            lane.worker = asyncio.create_task(self._run_lane(key, lane), name=f"chat-lane:{key}")
        return True

    @property
    def active_lanes(self) -> int:
        return len(self._lanes)

    def total_pending(self) -> int:
        return sum(len(lane.jobs) for lane in self._lanes.values())

    async def _run_lane(self, key: Hashable, lane: _Lane) -> None:
        try:
            while lane.jobs:
                job = lane.jobs.popleft()
                try:
                    await job()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("job for %s failed", key)
        finally:
            lane.worker = None
            if self._lanes.get(key) is lane and not lane.jobs:
                del self._lanes[key]

    async def close(self, deadline: float) -> None:
        """Stop accepting jobs, let running and queued jobs finish within `deadline` s, cancel the rest."""
        self._accepting = False
        workers = [lane.worker for lane in self._lanes.values() if lane.worker is not None]
        if not workers:
            return
        _, still_running = await asyncio.wait(workers, timeout=deadline)
        for task in still_running:
            task.cancel()
        await asyncio.gather(*still_running, return_exceptions=True)
