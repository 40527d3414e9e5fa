"""The one output scheduler of this process: every call that shows something asks it for a turn.

The limits and the decision rule are in bot.core.output_limits (shared with the Redis store,
bot.storage.telegram_budget). This module orders the requests: those that arrive together are decided
together, in ONE call to the store (one Redis round trip for the batch), sorted by priority — final
texts, then the first frame of an answer that shows nothing yet, then later frames — and within a
priority the chat served least recently first, so one busy chat cannot starve the others.

Text that must arrive waits for its turn (`turn`); a frame asks once (`request`) and is refused when
it cannot go soon: the caller then shows newer text later instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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

log = logging.getLogger(__name__)

MAX_LATE_RETRIES = 3  # a final text asks again at most this often for a turn it came back late for
MAX_BATCH = 64  # requests per store call; the rest wait for the next one, highest priority first
_FORGET_SERVED_OVER = 50_000  # fairness bookkeeping is reset past this many chats (it is only an order)


@dataclass(slots=True)
class _Waiting:
    request: TurnRequest
    future: asyncio.Future[Grant]
    sequence: int


class OutputScheduler:
    def __init__(self, store: OutputStore, limits: OutputLimits | None = None) -> None:
        self._store = store
        self._late_drop_s = (limits or OutputLimits()).late_drop_s
        self.late_turns = 0  # turns not used because this process came back too late (diagnostics)
        self._bot_paused_until = 0.0  # a bot-wide 429 this process knows of: booked turns wait too
        self._pending: list[_Waiting] = []
        self._flusher: asyncio.Task[None] | None = None
        self._served: dict[int, int] = {}  # chat → when it was last granted a turn (a counter)
        self._grants = 0
        self._sequence = 0

    @classmethod
    def local(cls, limits: OutputLimits | None = None) -> OutputScheduler:
        """A scheduler whose budgets live in this process only (one replica, tests)."""
        return cls(LocalOutputStore(limits), limits)

    async def request(self, chat_id: int, kind: Kind, *, is_group: bool, priority: Priority) -> Grant:
        """Ask once: granted (the call may go after `wait_s`) or refused (ask again after `wait_s`)."""
        future: asyncio.Future[Grant] = asyncio.get_running_loop().create_future()
        self._sequence += 1
        self._pending.append(_Waiting(TurnRequest(chat_id, kind, is_group, priority), future, self._sequence))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="telegram-output-scheduler")
        return await future

    async def turn(
        self, chat_id: int, kind: Kind, *, is_group: bool, priority: Priority = Priority.FINAL
    ) -> None:
        """Wait until a turn is granted and has come. For text that must not be dropped. A turn
        missed by coming back late is asked for again a few times (then the text goes anyway)."""
        late_retries = 0
        while True:
            grant = await self.request(chat_id, kind, is_group=is_group, priority=priority)
            if grant.wait_s > 0:
                await asyncio.sleep(grant.wait_s)
            if not grant.granted:
                continue
            if late_retries < MAX_LATE_RETRIES and self.missed(grant):
                late_retries += 1
                continue
            return

    async def try_turn(self, chat_id: int, kind: Kind, *, is_group: bool, priority: Priority) -> bool:
        """One request; when granted, wait until the turn comes. False: refused, or this process came
        back too late for its turn (see `missed`)."""
        grant = await self.request(chat_id, kind, is_group=is_group, priority=priority)
        if grant.granted and grant.wait_s > 0:
            await asyncio.sleep(grant.wait_s)
        return grant.granted and not self.missed(grant)

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
        return True

    async def penalise(self, chat_id: int, kind: Kind, retry_after: float) -> None:
        """Telegram said `retry after N`: pause what it was about, and learn (see output_limits)."""
        bot_pause = await self._store.penalise(chat_id, kind, retry_after)
        if bot_pause > 0:
            self._bot_paused_until = max(self._bot_paused_until, time.monotonic() + bot_pause)

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        await self._store.move_chat(old_chat_id, new_chat_id)

    async def close(self) -> None:
        """Stop deciding; requests still waiting are cancelled."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        for waiting in self._pending:
            waiting.future.cancel()
        self._pending.clear()

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # requests made in this turn of the event loop join the batch
        while self._pending:
            pending = self._pending
            served = self._served
            pending.sort(key=lambda w: (w.request.priority, served.get(w.request.chat_id, 0), w.sequence))
            batch, self._pending = pending[:MAX_BATCH], pending[MAX_BATCH:]
            live = [w for w in batch if not w.future.done()]  # a cancelled caller wants nothing
            if not live:
                continue
            try:
                grants = await self._store.decide([w.request for w in live])
            except Exception as error:
                log.error("Telegram output budget failed: %s", type(error).__name__)
                for waiting in live:
                    if not waiting.future.done():
                        waiting.future.set_exception(error)
                continue
            decided_at = time.monotonic()
            for waiting, decided in zip(live, grants, strict=True):
                grant = Grant(decided.granted, decided.wait_s, decided_at)
                if grant.granted:
                    self._grants += 1
                    served[waiting.request.chat_id] = self._grants
                if not waiting.future.done():
                    waiting.future.set_result(grant)
            if len(served) > _FORGET_SERVED_OVER:
                served.clear()
