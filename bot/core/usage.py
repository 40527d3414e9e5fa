"""Daily token budgets per user and per chat, from the `usage` the provider reports — or, when it
reports none (Yandex may send `null` or zeros), from the bot's estimate, and then the day's totals are
shown as approximate.

A budget of 0 means unlimited. Admins are exempt. Days are UTC days: budgets reset at 00:00 UTC.
An answer already running is never cut short; the check happens before an answer starts. Tokens are
counted even without a budget, so /usage always shows what was used today.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class BudgetScope(StrEnum):
    USER = "user"
    CHAT = "chat"


@dataclass(frozen=True, slots=True)
class UsageLimits:
    user_daily_tokens: int = 0
    chat_daily_tokens: int = 0


@dataclass(frozen=True, slots=True)
class UsageToday:
    user_used: int
    chat_used: int
    user_approximate: bool = False
    """Some of the user's tokens today are estimates (the provider reported no usage)."""
    chat_approximate: bool = False


@dataclass(frozen=True, slots=True)
class Exhausted:
    scope: BudgetScope
    limit: int


@dataclass(frozen=True, slots=True)
class Remaining:
    user_used: int
    user_limit: int
    chat_used: int
    chat_limit: int
    exempt: bool
    user_approximate: bool = False
    chat_approximate: bool = False


class UsageLedger(Protocol):
    async def today(self, user_id: int | None, chat_id: int, day: str) -> UsageToday: ...

    async def add(
        self, user_id: int | None, chat_id: int, day: str, tokens: int, *, approximate: bool
    ) -> None:
        """Count tokens; `approximate`: they are an estimate, so the day's totals become approximate."""


def utc_day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


class UsageBudget:
    def __init__(
        self, ledger: UsageLedger, limits: UsageLimits, clock: Callable[[], float] = time.time
    ) -> None:
        self._ledger = ledger
        self._limits = limits
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return bool(self._limits.user_daily_tokens or self._limits.chat_daily_tokens)

    async def exhausted(self, user_id: int | None, chat_id: int, *, exempt: bool) -> Exhausted | None:
        if exempt or not self.enabled:
            return None
        used = await self._ledger.today(user_id, chat_id, utc_day(self._clock()))
        if (
            self._limits.user_daily_tokens
            and user_id is not None
            and used.user_used >= self._limits.user_daily_tokens
        ):
            return Exhausted(BudgetScope.USER, self._limits.user_daily_tokens)
        if self._limits.chat_daily_tokens and used.chat_used >= self._limits.chat_daily_tokens:
            return Exhausted(BudgetScope.CHAT, self._limits.chat_daily_tokens)
        return None

    async def record(
        self, user_id: int | None, chat_id: int, tokens: int, *, approximate: bool = False
    ) -> None:
        """Count an answer's tokens (also without a budget, for /usage); `approximate` when they were
        estimated (no usage reported)."""
        if tokens > 0:
            await self._ledger.add(user_id, chat_id, utc_day(self._clock()), tokens, approximate=approximate)

    async def remaining(self, user_id: int | None, chat_id: int, *, exempt: bool) -> Remaining:
        used = await self._ledger.today(user_id, chat_id, utc_day(self._clock()))
        return Remaining(
            user_used=used.user_used,
            user_limit=self._limits.user_daily_tokens,
            chat_used=used.chat_used,
            chat_limit=self._limits.chat_daily_tokens,
            exempt=exempt,
            user_approximate=used.user_approximate,
            chat_approximate=used.chat_approximate,
        )
