"""The one output scheduler of this process: every call that shows something waits in its queue for a turn.

The limits and the decision rule are in bot.core.output_limits (shared with the Redis store,
bot.storage.telegram_budget). This module keeps the queue: requests wait here, sorted by priority —
final texts, then the first frame of an answer that shows nothing yet, then later frames — and within a
priority the chat served least recently first (one that was not served lately before any that was),
then the chat that has waited longest: one busy chat cannot starve the others, a user who sees nothing
of an answer goes before one who sees part of it, and answers become visible in the order they began
to wait.

The store books a turn only when the next global slot is near (see `OutputLimits.horizon_s`; plus
about one decision's round trip, measured, so that a slow Redis or a busy event loop does not leave
slots unused), so the queue, not the order of asking, decides who goes next: a final text that arrives
while a thousand first frames wait still goes first, and a chat that never showed anything goes before
one that did. The queue asks the store about its head (up to MAX_BATCH requests) in ONE call (one
Redis round trip) and sleeps until the whole bot can take another turn (`Grant.bot_wide`), a refused
chat's own limits allow it again, or a new request arrives.

`turn` waits for text that must arrive; a frame waits with `acquire` (the stream shows the newest text
when its turn comes, so older text is never sent late) and leaves the queue when the answer is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import time
from dataclasses import dataclass

from bot.core.output_limits import (
    Grant,
    Kind,
    LocalOutputStore,
    OutputLimits,
    OutputStore,
    Priority,
    TurnRequest,
)
from bot.metrics import Metrics

log = logging.getLogger(__name__)

MAX_LATE_RETRIES = 3  # a final text asks again at most this often for a turn it came back late for
MAX_BATCH = 8  # requests per store call: more than the turns a decision can book, fewer than a herd
FRAME_PATIENCE_S = 0.3  # `try_turn`: a frame not granted this soon is dropped
# Turns are booked ahead by about as long as a decision takes to come back (measured), so that slow
# round trips (a busy Redis, a busy event loop) do not leave global slots unused; never further than:
MAX_LEAD_S = 0.2
_LATENCY_WEIGHT = 0.2  # of the newest decision in the moving average of their latency
_FORGET_WAITING_AFTER_S = 600.0  # a chat's waiting mark without a request (its answer gave up)


@dataclass(slots=True)
class _Waiting:
    request: TurnRequest
    future: asyncio.Future[Grant | None]
    served_at: float
    """When its chat was last granted a turn (monotonic; -inf: not lately): the order within a priority."""
    since: float
    """When its chat began to wait (monotonic): the order among chats served alike."""
    sequence: int
    deadline: float = math.inf
    """Patience: resolved with None if not granted by then."""

    def order(self) -> tuple[int, float, float, int]:
        return (self.request.priority, self.served_at, self.since, self.sequence)


class OutputScheduler:
    def __init__(
        self, store: OutputStore, limits: OutputLimits | None = None, metrics: Metrics | None = None
    ) -> None:
        self._store = store
        self._metrics = metrics
        limits = limits or OutputLimits()
        self._late_drop_s = limits.late_drop_s
        self._early_leave_s = limits.early_leave_s
        self.late_turns = 0  # turns not used because this process came back too late (diagnostics)
        self._bot_paused_until = 0.0  # a bot-wide 429 this process knows of: booked turns wait too
        # The line: ready requests by (priority, chat last served, waiting since, arrival); requests their
        # chat's own limits
        # refused, by when to ask again; requests with patience, by deadline. Heaps with lazy removal:
        # a granted, cancelled or expired request stays in a heap until it comes up, and is skipped.
        self._ready: list[tuple[tuple[int, float, float, int], _Waiting]] = []
        self._delayed: list[tuple[float, int, _Waiting]] = []
        self._deadlines: list[tuple[float, int, _Waiting]] = []
        self._bot_busy_until = [0.0] * len(Priority)  # per priority: the whole bot is booked up till then
        self._arrival: asyncio.Future[None] | None = None  # the sleeping dispatcher's wake-up call
        self._dispatcher: asyncio.Task[None] | None = None
        self._waiting_since: dict[int, float] = {}  # chat → when it began to wait for its next turn
        self._served_at: dict[int, float] = {}  # chat → when it was last granted a turn
        self._sequence = 0
        self._decision_latency_s = 0.0  # moving average of how long the store takes to decide

    @classmethod
    def local(cls, limits: OutputLimits | None = None) -> OutputScheduler:
        """A scheduler whose budgets live in this process only (one replica, tests)."""
        return cls(LocalOutputStore(limits), limits)

    def acquire(
        self,
        chat_id: int,
        kind: Kind,
        *,
        is_group: bool,
        priority: Priority,
        patience_s: float | None = None,
    ) -> asyncio.Future[Grant | None]:
        """Join the queue. The future resolves with the granted turn (the call goes after
        `until_turn(grant)` seconds), or None when `patience_s` ran out first; cancel it (or the task
        awaiting it) to leave the queue."""
        now = time.monotonic()
        future: asyncio.Future[Grant | None] = asyncio.get_running_loop().create_future()
        since = self._waiting_since.setdefault(chat_id, now)
        self._sequence += 1
        waiting = _Waiting(
            TurnRequest(chat_id, kind, is_group, priority),
            future,
            self._served_at.get(chat_id, -math.inf),
            since,
            self._sequence,
        )
        if patience_s is not None:
            waiting.deadline = now + patience_s
            heapq.heappush(self._deadlines, (waiting.deadline, waiting.sequence, waiting))
        heapq.heappush(self._ready, (waiting.order(), waiting))
        if self._arrival is not None and not self._arrival.done():
            self._arrival.set_result(None)
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="telegram-output-scheduler")
        return future

    async def turn(
        self, chat_id: int, kind: Kind, *, is_group: bool, priority: Priority = Priority.FINAL
    ) -> None:
        """Wait until a turn is granted and has come. For text that must not be dropped. A turn
        missed by coming back late is asked for again a few times (then the text goes anyway)."""
        late_retries = 0
        while True:
            grant = await self.acquire(chat_id, kind, is_group=is_group, priority=priority)
            assert grant is not None  # no patience: only a grant resolves it
            delay = self.until_turn(grant)
            if delay > 0:
                await asyncio.sleep(delay)
            if late_retries < MAX_LATE_RETRIES and self.missed(grant):
                late_retries += 1
                self.unused(chat_id, grant)
                continue
            return

    async def try_turn(self, chat_id: int, kind: Kind, *, is_group: bool, priority: Priority) -> bool:
        """A turn within FRAME_PATIENCE_S, waited for. False: none that soon, or this process came
        back too late for it (see `missed`)."""
        grant = await self.acquire(
            chat_id, kind, is_group=is_group, priority=priority, patience_s=FRAME_PATIENCE_S
        )
        if grant is None:
            return False
        delay = self.until_turn(grant)
        if delay > 0:
            await asyncio.sleep(delay)
        return not self.missed(grant)

    def until_turn(self, grant: Grant) -> float:
        """Seconds to wait before the granted call goes: a little before its slot, as a busy event
        loop only ever wakes a caller late (see bot.core.output_limits on how early and late)."""
        return grant.slot_at - self._early_leave_s - time.monotonic()

    def missed(self, grant: Grant) -> bool:
        """A granted turn has passed: the call would leave so late after its slot that it could bunch
        up with later calls on the way to Telegram (an overloaded event loop), or the whole bot has
        been paused since it was granted (a bot-wide 429). Drop the frame, or ask again."""
        now = time.monotonic()
        if now < self._bot_paused_until:
            return True
        if grant.late_by(now) <= self._late_drop_s:
            return False
        self.late_turns += 1
        if self._metrics is not None:
            self._metrics.telegram_late_turns.inc()
        return True

    def unused(self, chat_id: int, grant: Grant) -> None:
        """A granted turn was not used (missed, or its answer finished meanwhile): the chat keeps its
        place in line, so an answer that has waited long is not sent to the back of the queue."""
        since = self._waiting_since.get(chat_id)
        if since is None or grant.queued_since < since:
            self._waiting_since[chat_id] = grant.queued_since
        if self._served_at.get(chat_id) == grant.decided_at:  # not served again since
            if grant.served_before == -math.inf:
                del self._served_at[chat_id]
            else:
                self._served_at[chat_id] = grant.served_before

    async def penalise(self, chat_id: int, kind: Kind, retry_after: float) -> None:
        """Telegram said `retry after N`: pause what it was about, and learn (see output_limits)."""
        bot_pause = await self._store.penalise(chat_id, kind, retry_after)
        if bot_pause > 0:
            until = time.monotonic() + bot_pause
            self._bot_paused_until = max(self._bot_paused_until, until)
            busy = self._bot_busy_until
            busy[:] = [max(at, until) for at in busy]  # in place: the dispatcher holds this list

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        await self._store.move_chat(old_chat_id, new_chat_id)

    async def close(self) -> None:
        """Stop deciding; requests still waiting are cancelled."""
        if self._dispatcher is not None and not self._dispatcher.done():
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        for _, waiting in self._ready:
            waiting.future.cancel()
        for _, _, waiting in self._delayed:
            waiting.future.cancel()
        self._ready.clear()
        self._delayed.clear()
        self._deadlines.clear()

    # -- the queue ------------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        busy = self._bot_busy_until
        while True:
            now = time.monotonic()
            self._expire(now)
            self._release_delayed(now)
            batch = self._head_of_line(now)
            if not batch:
                wake_at = self._next_wake()
                if wake_at is None:
                    return  # nobody waits: the next request starts a new dispatcher
                await self._sleep_until(wake_at)
                continue
            asked_at = time.monotonic()
            lead = min(MAX_LEAD_S, self._decision_latency_s)
            try:
                grants = await self._store.decide([w.request for w in batch], lead)
            except Exception as error:
                log.error("Telegram output budget failed: %s", type(error).__name__)
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(error)
                continue
            arrived_at = time.monotonic()
            self._decision_latency_s += _LATENCY_WEIGHT * (arrived_at - asked_at - self._decision_latency_s)
            for waiting, decided in zip(batch, grants, strict=True):
                decided_at = decided.decided_at or arrived_at
                if decided.granted:
                    # A caller that left meanwhile wastes this slot; it is one slot, not a stall.
                    chat_id = waiting.request.chat_id
                    self._waiting_since.pop(chat_id, None)
                    served_before = self._served_at.get(chat_id, -math.inf)
                    self._served_at[chat_id] = decided_at
                    if not waiting.future.done():
                        waiting.future.set_result(
                            Grant(
                                True,
                                decided.wait_s,
                                decided_at,
                                queued_since=waiting.since,
                                served_before=served_before,
                            )
                        )
                elif waiting.future.done():
                    continue
                elif decided.bot_wide:
                    priority = waiting.request.priority
                    busy[priority] = max(busy[priority], decided_at + decided.wait_s)
                    heapq.heappush(self._ready, (waiting.order(), waiting))
                else:
                    heapq.heappush(self._delayed, (decided_at + decided.wait_s, waiting.sequence, waiting))

    def _head_of_line(self, now: float) -> list[_Waiting]:
        """Up to MAX_BATCH waiting requests, best first, whose priority the whole bot can serve now.
        (A lower priority books less far ahead, so when one priority is booked up, those below are too.)"""
        ready, busy = self._ready, self._bot_busy_until
        batch: list[_Waiting] = []
        while ready and len(batch) < MAX_BATCH:
            waiting = ready[0][1]
            if waiting.future.done():
                heapq.heappop(ready)
            elif busy[waiting.request.priority] > now:
                break
            else:
                batch.append(heapq.heappop(ready)[1])
        return batch

    def _release_delayed(self, now: float) -> None:
        """Requests whose chat's limits allow them again rejoin the line, in their old place."""
        delayed = self._delayed
        while delayed and delayed[0][0] <= now:
            waiting = heapq.heappop(delayed)[2]
            if not waiting.future.done():
                heapq.heappush(self._ready, (waiting.order(), waiting))

    def _expire(self, now: float) -> None:
        """Requests that ran out of patience are answered None (and skipped where they lie)."""
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            waiting = heapq.heappop(deadlines)[2]
            if not waiting.future.done():
                waiting.future.set_result(None)
        if len(self._served_at) > 2 * (len(self._ready) + len(self._delayed)) + 1000:
            # Served so long ago that it counts as never (the order is what matters, not the record).
            horizon = now - _FORGET_WAITING_AFTER_S
            self._served_at = {chat: at for chat, at in self._served_at.items() if at > horizon}
        if len(self._waiting_since) > 2 * (len(self._ready) + len(self._delayed)) + 1000:
            # Marks of chats whose answers stopped asking (a failure before their final text).
            horizon = now - _FORGET_WAITING_AFTER_S
            waiting_chats = {w.request.chat_id for _, w in self._ready}
            waiting_chats.update(w.request.chat_id for _, _, w in self._delayed)
            self._waiting_since = {
                chat: since
                for chat, since in self._waiting_since.items()
                if chat in waiting_chats or since > horizon
            }

    def _next_wake(self) -> float | None:
        """When the line may move again without a new request; None when nobody waits."""
        ready = self._ready
        while ready and ready[0][1].future.done():
            heapq.heappop(ready)
        delayed = self._delayed
        while delayed and delayed[0][2].future.done():
            heapq.heappop(delayed)
        deadlines = self._deadlines
        while deadlines and deadlines[0][2].future.done():
            heapq.heappop(deadlines)
        moments = [self._bot_busy_until[ready[0][1].request.priority]] if ready else []
        if delayed:
            moments.append(delayed[0][0])
        if deadlines:
            moments.append(deadlines[0][0])
        return min(moments) if moments else None

    async def _sleep_until(self, wake_at: float) -> None:
        """Until `wake_at`, or a new request arrives (it may be ready at once). asyncio.wait on a future
        wakes in one turn of the event loop (wait_for on a coroutine takes three)."""
        delay = wake_at - time.monotonic()
        if delay <= 0:
            return
        self._arrival = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait((self._arrival,), timeout=delay)
        finally:
            self._arrival = None
