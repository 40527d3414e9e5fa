"""The one place that knows Telegram's rate limits.

Budgets (defaults a little under what Telegram tolerates, so network jitter cannot push us over):
- every chat: sends + edits as a token bucket (about one per second, small burst);
- groups and supergroups additionally: at most N sends + edits per rolling minute;
- drafts: a separate, faster per-chat bucket;
- the whole bot: sends + edits per second.
A 429 (`retry_after`) pauses the whole chat. Callers either wait for their turn (final text, which
must never be dropped) or ask whether a frame may go now (intermediate frames, which may be dropped).

`Budget` is what the sender depends on (async: the shared implementation asks Redis, see
storage.telegram_budget, so that several replicas of the bot spend one budget). `TelegramBudget`
keeps the same budgets in this process; it is the shared budget's fallback while Redis is down, and
`LocalBudget` exposes it through the `Budget` protocol for a single process.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Kind(StrEnum):
    MESSAGE = "message"  # sends and edits of real messages
    DRAFT = "draft"


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    chat_rate_per_s: float = 0.9
    chat_burst: int = 2
    group_per_minute: int = 19
    group_window_s: float = 60.0
    draft_rate_per_s: float = 3.3
    draft_burst: int = 2
    global_rate_per_s: float = 25.0
    global_burst: int = 20
    idle_forget_s: float = 600.0


class Budget(Protocol):
    """Telegram rate budgets as the sender sees them (one process or shared by several)."""

    async def delay(self, chat_id: int, kind: Kind, *, is_group: bool, reserve: int = 0) -> float:
        """Seconds until one operation of `kind` may go to the chat, keeping `reserve` slots free."""
        ...

    async def try_take(self, chat_id: int, kind: Kind, *, is_group: bool, reserve: int = 0) -> bool:
        """Consume one operation if it may go now (keeping `reserve` slots free); never waits."""
        ...

    async def take(self, chat_id: int, kind: Kind, *, is_group: bool) -> None:
        """Wait for the chat's turn, then consume it. Used for text that must not be dropped."""
        ...

    async def pause_chat(self, chat_id: int, seconds: float) -> None:
        """Telegram said `retry after N`: nothing goes to this chat until then."""
        ...

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup: its spent budget follows it."""
        ...


@dataclass(slots=True)
class _Bucket:
    capacity: float
    rate: float
    tokens: float
    updated: float

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def delay(self, now: float, reserve: float = 0.0) -> float:
        self._refill(now)
        missing = 1.0 + reserve - self.tokens
        return 0.0 if missing <= 0 else missing / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1.0


@dataclass(slots=True)
class _Window:
    limit: int
    span: float
    stamps: deque[float] = field(default_factory=deque)

    def delay(self, now: float, reserve: int = 0) -> float:
        while self.stamps and self.stamps[0] <= now - self.span:
            self.stamps.popleft()
        allowed = self.limit - reserve
        if len(self.stamps) < allowed:
            return 0.0
        if allowed <= 0:
            return self.span
        return self.stamps[len(self.stamps) - allowed] + self.span - now

    def take(self, now: float) -> None:
        self.stamps.append(now)


@dataclass(slots=True)
class _ChatBudget:
    messages: _Bucket
    drafts: _Bucket
    window: _Window | None
    paused_until: float = 0.0
    last_used: float = 0.0


class TelegramBudget:
    def __init__(
        self, config: BudgetConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._config = config or BudgetConfig()
        self._clock = clock
        now = clock()
        self._global = _Bucket(
            self._config.global_burst, self._config.global_rate_per_s, self._config.global_burst, now
        )
        self._chats: dict[int, _ChatBudget] = {}
        self._operations = 0

    def delay(self, chat_id: int, kind: Kind, *, is_group: bool, reserve: int = 0) -> float:
        """Seconds until one operation of `kind` may go to the chat, keeping `reserve` group slots free."""
        now = self._clock()
        chat = self._chat(chat_id, is_group, now)
        waits = [chat.paused_until - now]
        if kind is Kind.DRAFT:
            waits.append(chat.drafts.delay(now))
        else:
            # Frames keep `reserve` tokens of the chat's bucket free too, so the final text of an
            # answer streamed by edits does not wait behind its own previews.
            waits.append(chat.messages.delay(now, min(reserve, chat.messages.capacity - 1)))
            waits.append(self._global.delay(now))
            if chat.window is not None:
                waits.append(chat.window.delay(now, reserve))
        return max(0.0, *waits)

    def try_take(self, chat_id: int, kind: Kind, *, is_group: bool, reserve: int = 0) -> bool:
        if self.delay(chat_id, kind, is_group=is_group, reserve=reserve) > 0:
            return False
        self._take(chat_id, kind, is_group)
        return True

    async def take(self, chat_id: int, kind: Kind, *, is_group: bool) -> None:
        """Wait for the chat's turn, then consume it. Used for text that must not be dropped."""
        while True:
            wait = self.delay(chat_id, kind, is_group=is_group)
            if wait <= 0:
                self._take(chat_id, kind, is_group)
                return
            await asyncio.sleep(wait)

    def pause_chat(self, chat_id: int, seconds: float) -> None:
        """Telegram said `retry after N`: nothing goes to this chat until then (plus a small margin)."""
        now = self._clock()
        chat = self._chat(chat_id, chat_id < 0, now)
        chat.paused_until = max(chat.paused_until, now + seconds + 0.05)

    def move_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup: its spent budget follows it."""
        chat = self._chats.pop(old_chat_id, None)
        if chat is not None:
            self._chats[new_chat_id] = chat

    def _take(self, chat_id: int, kind: Kind, is_group: bool) -> None:
        now = self._clock()
        chat = self._chat(chat_id, is_group, now)
        chat.last_used = now
        if kind is Kind.DRAFT:
            chat.drafts.take(now)
        else:
            chat.messages.take(now)
            self._global.take(now)
            if chat.window is not None:
                chat.window.take(now)
        self._operations += 1
        if self._operations % 1000 == 0:
            self._forget_idle(now)

    def _chat(self, chat_id: int, is_group: bool, now: float) -> _ChatBudget:
        chat = self._chats.get(chat_id)
        if chat is None:
            c = self._config
            chat = _ChatBudget(
                messages=_Bucket(c.chat_burst, c.chat_rate_per_s, c.chat_burst, now),
                drafts=_Bucket(c.draft_burst, c.draft_rate_per_s, c.draft_burst, now),
                window=_Window(c.group_per_minute, c.group_window_s) if is_group else None,
                last_used=now,
            )
            self._chats[chat_id] = chat
        return chat

    def _forget_idle(self, now: float) -> None:
        horizon = now - self._config.idle_forget_s
        for chat_id in [
            cid for cid, chat in self._chats.items() if chat.last_used < horizon and chat.paused_until < now
        ]:
            del self._chats[chat_id]


class LocalBudget:
    """`Budget` over a `TelegramBudget`: budgets known to this process only (one replica)."""

    def __init__(self, budget: TelegramBudget | None = None) -> None:
        self._budget = budget or TelegramBudget()

    async def delay(self, chat_id: int, kind: Kind, *, is_group: bool, reserve: int = 0) -> float:
        return self._budget.delay(chat_id, kind, is_group=is_group, reserve=reserve)

    async def try_take(self, chat_id: int, kind: Kind, *, is_group: bool, reserve: int = 0) -> bool:
        return self._budget.try_take(chat_id, kind, is_group=is_group, reserve=reserve)

    async def take(self, chat_id: int, kind: Kind, *, is_group: bool) -> None:
        await self._budget.take(chat_id, kind, is_group=is_group)

    async def pause_chat(self, chat_id: int, seconds: float) -> None:
        self._budget.pause_chat(chat_id, seconds)

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        self._budget.move_chat(old_chat_id, new_chat_id)
