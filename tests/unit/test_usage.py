"""Daily token budgets with a hand-written ledger and a hand-driven clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.usage import BudgetScope, UsageBudget, UsageLimits, UsageToday

MIDNIGHT = 1_795_392_000.0  # 2026-11-23 00:00:00 UTC


@dataclass
class DictLedger:
    totals: dict[tuple[str, int, str], int] = field(default_factory=dict)
    approximate: set[tuple[str, int, str]] = field(default_factory=set)

    async def today(self, user_id: int | None, chat_id: int, day: str) -> UsageToday:
        user = self.totals.get(("user", user_id, day), 0) if user_id is not None else 0
        return UsageToday(
            user_used=user,
            chat_used=self.totals.get(("chat", chat_id, day), 0),
            user_approximate=user_id is not None and ("user", user_id, day) in self.approximate,
            chat_approximate=("chat", chat_id, day) in self.approximate,
        )

    async def add(
        self, user_id: int | None, chat_id: int, day: str, tokens: int, *, approximate: bool
    ) -> None:
        owners = [("chat", chat_id)] + ([("user", user_id)] if user_id is not None else [])
        for scope, owner in owners:
            self.totals[(scope, owner, day)] = self.totals.get((scope, owner, day), 0) + tokens
            if approximate:
                self.approximate.add((scope, owner, day))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_user_budget_is_exhausted_and_renews_at_midnight_utc() -> None:
    clock = Clock(MIDNIGHT + 23 * 3600)
    budget = UsageBudget(DictLedger(), UsageLimits(user_daily_tokens=100), clock)
    assert await budget.exhausted(1, -5, exempt=False) is None
    await budget.record(1, -5, 60)
    assert await budget.exhausted(1, -5, exempt=False) is None
    await budget.record(1, -5, 60)
    spent = await budget.exhausted(1, -5, exempt=False)
    assert spent is not None and spent.scope is BudgetScope.USER and spent.limit == 100
    assert await budget.exhausted(2, -5, exempt=False) is None  # another user in the same chat
    clock.now = MIDNIGHT + 24 * 3600 + 1
    assert await budget.exhausted(1, -5, exempt=False) is None


async def test_chat_budget_counts_everyone_and_admins_are_exempt() -> None:
    budget = UsageBudget(DictLedger(), UsageLimits(chat_daily_tokens=50), Clock(MIDNIGHT))
    await budget.record(1, -7, 30)
    await budget.record(2, -7, 30)
    spent = await budget.exhausted(3, -7, exempt=False)
    assert spent is not None and spent.scope is BudgetScope.CHAT
    assert await budget.exhausted(3, -7, exempt=True) is None
    remaining = await budget.remaining(1, -7, exempt=False)
    assert (remaining.user_used, remaining.chat_used, remaining.chat_limit) == (30, 60, 50)


async def test_without_limits_tokens_are_counted_but_never_exhausted() -> None:
    # /usage shows what was used today even when no budget is set (issue 14).
    ledger = DictLedger()
    budget = UsageBudget(ledger, UsageLimits(), Clock(MIDNIGHT))
    await budget.record(1, 1, 10_000)
    assert await budget.exhausted(1, 1, exempt=False) is None
    remaining = await budget.remaining(1, 1, exempt=False)
    assert (remaining.user_used, remaining.chat_used) == (10_000, 10_000)
    assert (remaining.user_limit, remaining.chat_limit) == (0, 0)


async def test_estimated_tokens_count_and_mark_the_day_approximate() -> None:
    budget = UsageBudget(DictLedger(), UsageLimits(user_daily_tokens=100), Clock(MIDNIGHT))
    await budget.record(1, 1, 40)
    exact = await budget.remaining(1, 1, exempt=False)
    assert (exact.user_used, exact.user_approximate, exact.chat_approximate) == (40, False, False)
    await budget.record(1, 1, 70, approximate=True)
    estimated = await budget.remaining(1, 1, exempt=False)
    assert (estimated.user_used, estimated.user_approximate, estimated.chat_approximate) == (110, True, True)
    assert await budget.exhausted(1, 1, exempt=False) is not None, "estimates count against the budget"
    other = await budget.remaining(2, 1, exempt=False)
    assert not other.user_approximate and other.chat_approximate
