"""Telegram's output limits as the bot models them, and the decision rule both budget stores follow.

The model (the strictest reading of what Telegram documents; README "Limits and behaviour"):
- the whole bot: at most `global_per_s` calls that show something (sends, edits, drafts) per second;
- every chat: sends + edits from a bucket of `chat_burst` refilling `chat_per_s`; drafts from a bucket
  of `draft_burst` refilling `draft_per_s`;
- groups and supergroups additionally: `group_per_minute` sends + edits in any rolling minute.
The scheduler stays `margin` under every rate (network jitter moves calls closer together on the way to
Telegram). The global limit is kept as GCRA without a burst: one call every 1 / rate seconds, so no
rolling second can hold more than the rate (a token bucket's burst would let rate + burst through).

Turns go by priority: final texts, then the first frame of an answer that shows nothing yet, then later
frames. A turn is granted only when the chat's own limits allow it now and the next global slot is
near: within `final_horizon_s` for final texts, `first_frame_horizon_s` for first frames and
`frame_horizon_s` for later ones, plus the `lead_s` the scheduler asks for (about as long as a decision
takes to come back, so that a slow round trip does not leave slots unused); the caller sleeps until its
slot. Nothing books further ahead, so the order of turns is the order of the scheduler's waiting line
(bot.telegram.budget: priority, then how long the chat has waited), not the order of asking. A refusal
says when to ask again and whether the whole bot is booked up (`Grant.bot_wide`: every request of that
priority waits as long) or only this chat. Frames leave one message token and `group_final_reserve`
group slots free for final texts.

It learns: a 429 on drafts halves that chat's draft rate; 429s in two chats within one `retry_after`
are taken for the bot-wide limit (Telegram does not say which limit it was) and pause the whole bot
and lower the global rate by a quarter; both factors climb back by half in `recovery_s`.

A granted turn is only safe if the call leaves close to its slot: with the defaults (slots 1/27 s
apart), calls that leave between e seconds early and d seconds late put at most 27 × (1 + e + d)
calls in any rolling second: within 30 while e + d stays under about 110 ms. The scheduler takes 70 ms
of that and leaves the rest to the network's jitter. Callers aim `early_leave_s` (20 ms) before the slot, since a busy event loop only ever wakes
them late, and a call that would leave more than `late_drop_s` (50 ms) after its slot is not sent: a
frame asks again, a final text up to three times (then it goes).

`LocalOutputStore` keeps this state in the process: the single-process store and the fallback of the
shared Redis store (bot.storage.telegram_budget), which implements the same rule in Lua.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Protocol

_EPSILON = 1e-9  # float noise in a refilled bucket is not a missing token


class Kind(StrEnum):
    MESSAGE = "message"  # sends and edits of real messages
    DRAFT = "draft"


class Priority(IntEnum):
    FINAL = 0  # text that must arrive (final answers, notices, earlier parts of a long answer)
    FIRST_FRAME = 1  # the first frame of an answer that shows nothing yet
    FRAME = 2  # later frames: may be dropped in favour of newer text


@dataclass(frozen=True, slots=True)
class OutputLimits:
    global_per_s: float = 30.0
    chat_burst: int = 3
    chat_per_s: float = 1.0
    draft_burst: int = 3
    draft_per_s: float = 2.0
    group_per_minute: int = 20
    group_window_s: float = 60.0
    margin: float = 0.1
    recovery_s: float = 300.0
    draft_backoff: float = 0.5
    global_backoff: float = 0.75
    min_factor: float = 0.125
    final_horizon_s: float = 0.15
    first_frame_horizon_s: float = 0.15
    frame_horizon_s: float = 0.05
    group_final_reserve: int = 3
    late_drop_s: float = 0.05
    early_leave_s: float = 0.02
    pause_margin_s: float = 0.05
    idle_forget_s: float = 600.0

    @property
    def slack(self) -> float:
        """Every rate is multiplied by this (and the group window stretched by its inverse)."""
        return 1.0 - self.margin

    @property
    def group_span_s(self) -> float:
        return self.group_window_s / self.slack

    @property
    def recovery_per_s(self) -> float:
        return 0.5 / self.recovery_s

    def horizon_s(self, priority: Priority) -> float:
        """How far ahead a turn of this priority may book the next global slot."""
        if priority is Priority.FINAL:
            return self.final_horizon_s
        if priority is Priority.FIRST_FRAME:
            return self.first_frame_horizon_s
        return self.frame_horizon_s


@dataclass(frozen=True, slots=True)
class TurnRequest:
    chat_id: int
    kind: Kind
    is_group: bool
    priority: Priority


@dataclass(frozen=True, slots=True)
class Grant:
    granted: bool
    wait_s: float
    """Granted: seconds until the booked turn comes (the call goes then). Refused: when to ask again."""
    decided_at: float = 0.0
    """When the decision was made, on this process's time.monotonic() clock (0: unknown; the scheduler
    then takes the moment the answer reached it). A reply that reached a busy event loop late must not
    move the slot later: the turns after it were booked from the decision, not from its arrival."""
    queued_since: float = 0.0
    """When the granted request's chat began to wait (the scheduler sets it): its place in line, kept
    if the turn goes unused."""
    served_before: float = -math.inf
    """When the chat was granted its previous turn (the scheduler sets it): restored if this one goes
    unused."""
    bot_wide: bool = False
    """Refused because the whole bot is booked up or paused, not because of this chat: every request
    of this priority waits as long."""

    @property
    def slot_at(self) -> float:
        """When a granted turn's call goes (time.monotonic())."""
        return self.decided_at + self.wait_s

    def late_by(self, now: float) -> float:
        """How long after its slot a call made at `now` would leave."""
        return now - self.slot_at


class OutputStore(Protocol):
    """Where the budgets live: this process (LocalOutputStore) or Redis, shared by replicas."""

    async def decide(self, requests: Sequence[TurnRequest], lead_s: float = 0.0) -> list[Grant]:
        """Grant or refuse each request, in the given order (callers sort by priority); turns may be
        booked up to `lead_s` further ahead than the priority's horizon."""
        ...

    async def penalise(self, chat_id: int, kind: Kind, retry_after: float) -> float:
        """Telegram answered 429 with `retry_after`: pause, learn. → seconds the whole bot is paused."""
        ...

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup: its spent budget follows it."""
        ...


def learnt(factor: float, updated: float, now: float, limits: OutputLimits) -> float:
    """A learnt factor climbing back towards 1 since it was last lowered."""
    return min(1.0, factor + max(0.0, now - updated) * limits.recovery_per_s)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float

    def level(self, now: float, capacity: float, rate: float) -> float:
        return min(capacity, self.tokens + max(0.0, now - self.updated) * rate)


@dataclass(slots=True)
class _Chat:
    messages: _Bucket
    drafts: _Bucket
    window: deque[float] = field(default_factory=deque)
    paused_until: float = 0.0
    drafts_paused_until: float = 0.0
    draft_factor: float = 1.0
    draft_factor_at: float = 0.0
    last_used: float = 0.0


class LocalOutputState:
    """The decision rule over in-process state (times from `clock`, in seconds)."""

    def __init__(self, limits: OutputLimits, clock: Callable[[], float]) -> None:
        self._limits = limits
        self._clock = clock
        self._tat = 0.0  # GCRA: when the next global slot is free
        self._paused_until = 0.0
        self._factor = 1.0
        self._factor_at = 0.0
        self._last_429: tuple[int, float] | None = None  # (chat, until)
        self._chats: dict[int, _Chat] = {}
        self._decisions = 0

    def decide(self, requests: Sequence[TurnRequest], lead_s: float = 0.0) -> list[Grant]:
        now = self._clock()
        lim = self._limits
        interval = 1.0 / (lim.global_per_s * lim.slack * learnt(self._factor, self._factor_at, now, lim))
        bot_pause = max(0.0, self._paused_until - now)
        grants: list[Grant] = []
        for request in requests:
            final = request.priority is Priority.FINAL
            if bot_pause > 0:
                grants.append(Grant(False, bot_pause, now, bot_wide=True))
                continue
            slot = max(self._tat, now)
            horizon = lim.horizon_s(request.priority) + lead_s
            if slot - now > horizon:
                grants.append(Grant(False, slot - horizon - now, now, bot_wide=True))
                continue
            chat = self._chat(request.chat_id, now)
            if request.kind is Kind.DRAFT:
                rate = lim.draft_per_s * lim.slack * learnt(chat.draft_factor, chat.draft_factor_at, now, lim)
                bucket, capacity, reserve = chat.drafts, float(lim.draft_burst), 0.0
                wait = max(0.0, chat.drafts_paused_until - now)
            else:
                rate, bucket, capacity = lim.chat_per_s * lim.slack, chat.messages, float(lim.chat_burst)
                reserve = 0.0 if final else min(1.0, capacity - 1)
                wait = max(0.0, chat.paused_until - now)
            tokens = bucket.level(now, capacity, rate)
            if tokens < 1 + reserve - _EPSILON:
                wait = max(wait, (1 + reserve - tokens) / rate)
            if request.is_group and request.kind is Kind.MESSAGE:
                window = chat.window
                while window and window[0] <= now - lim.group_span_s:
                    window.popleft()
                allowed = lim.group_per_minute - (0 if final else lim.group_final_reserve)
                if allowed <= 0:
                    wait = max(wait, lim.group_span_s)
                elif len(window) >= allowed:
                    wait = max(wait, window[len(window) - allowed] + lim.group_span_s - now)
            if wait > 0:
                grants.append(Grant(False, wait, now))
                continue
            bucket.tokens, bucket.updated = tokens - 1, now
            if request.is_group and request.kind is Kind.MESSAGE:
                chat.window.append(slot)
            self._tat = slot + interval
            chat.last_used = now
            grants.append(Grant(True, slot - now, now))
        self._decisions += 1
        if self._decisions % 1000 == 0:
            self._forget_idle(now)
        return grants

    def penalise(self, chat_id: int, kind: Kind, retry_after: float) -> float:
        """→ seconds the whole bot is paused (0: only the chat)."""
        now = self._clock()
        lim = self._limits
        chat = self._chat(chat_id, now)
        until = now + retry_after + lim.pause_margin_s
        if kind is Kind.DRAFT:
            chat.drafts_paused_until = max(chat.drafts_paused_until, until)
            factor = learnt(chat.draft_factor, chat.draft_factor_at, now, lim)
            chat.draft_factor, chat.draft_factor_at = max(lim.min_factor, factor * lim.draft_backoff), now
            chat.drafts.tokens, chat.drafts.updated = 0.0, now
        else:
            chat.paused_until = max(chat.paused_until, until)
            chat.messages.tokens, chat.messages.updated = 0.0, now
        previous = self._last_429
        if previous is not None and previous[0] != chat_id and previous[1] > now:
            # 429s in two chats at once: taken for the bot-wide limit (Telegram penalises the whole bot
            # then, and every chat's next call would earn another 429). A stricter per-chat limit hit
            # by several chats at once is taken for it too: a false alarm costs a pause and a slower
            # global rate for a while, a missed one a 429 in every chat.
            self._paused_until = max(self._paused_until, until)
            factor = learnt(self._factor, self._factor_at, now, lim)
            self._factor, self._factor_at = max(lim.min_factor, factor * lim.global_backoff), now
        self._last_429 = (chat_id, until)
        return max(0.0, self._paused_until - now)

    def move_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        chat = self._chats.pop(old_chat_id, None)
        if chat is not None:
            self._chats[new_chat_id] = chat

    def global_factor(self) -> float:
        return learnt(self._factor, self._factor_at, self._clock(), self._limits)

    def draft_factor(self, chat_id: int) -> float:
        chat = self._chats.get(chat_id)
        if chat is None:
            return 1.0
        return learnt(chat.draft_factor, chat.draft_factor_at, self._clock(), self._limits)

    def _chat(self, chat_id: int, now: float) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            lim = self._limits
            chat = _Chat(
                messages=_Bucket(float(lim.chat_burst), now),
                drafts=_Bucket(float(lim.draft_burst), now),
                last_used=now,
            )
            self._chats[chat_id] = chat
        return chat

    def _forget_idle(self, now: float) -> None:
        horizon = now - self._limits.idle_forget_s
        idle = [
            chat_id
            for chat_id, chat in self._chats.items()
            if chat.last_used < horizon
            and max(chat.paused_until, chat.drafts_paused_until) < now
            and learnt(chat.draft_factor, chat.draft_factor_at, now, self._limits) >= 1.0
        ]
        for chat_id in idle:
            del self._chats[chat_id]


class LocalOutputStore:
    """`OutputStore` in this process only (one replica, unit tests, and the Redis store's fallback)."""

    def __init__(
        self, limits: OutputLimits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.state = LocalOutputState(limits or OutputLimits(), clock)

    async def decide(self, requests: Sequence[TurnRequest], lead_s: float = 0.0) -> list[Grant]:
        return self.state.decide(requests, lead_s)

    async def penalise(self, chat_id: int, kind: Kind, retry_after: float) -> float:
        return self.state.penalise(chat_id, kind, retry_after)

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        self.state.move_chat(old_chat_id, new_chat_id)
