"""The rate budget with a hand-driven clock."""

from __future__ import annotations

from bot.telegram.budget import BudgetConfig, Kind, TelegramBudget


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_private_chat_allows_a_burst_then_about_one_per_second() -> None:
    clock = Clock()
    budget = TelegramBudget(BudgetConfig(chat_burst=2, chat_rate_per_s=1.0), clock=clock)
    assert budget.try_take(1, Kind.MESSAGE, is_group=False)
    assert budget.try_take(1, Kind.MESSAGE, is_group=False)
    assert not budget.try_take(1, Kind.MESSAGE, is_group=False)
    assert 0.99 < budget.delay(1, Kind.MESSAGE, is_group=False) <= 1.0
    clock.now += 1.0
    assert budget.try_take(1, Kind.MESSAGE, is_group=False)
    # Another chat is independent.
    assert budget.try_take(2, Kind.MESSAGE, is_group=False)


def test_drafts_have_their_own_budget() -> None:
    clock = Clock()
    budget = TelegramBudget(BudgetConfig(chat_burst=1, draft_burst=2, draft_rate_per_s=4.0), clock=clock)
    assert budget.try_take(1, Kind.MESSAGE, is_group=False)
    assert budget.try_take(1, Kind.DRAFT, is_group=False)
    assert budget.try_take(1, Kind.DRAFT, is_group=False)
    assert not budget.try_take(1, Kind.DRAFT, is_group=False)
    clock.now += 0.25
    assert budget.try_take(1, Kind.DRAFT, is_group=False)


def test_group_window_and_reserved_slot_for_the_final_text() -> None:
    clock = Clock()
    config = BudgetConfig(chat_burst=100, chat_rate_per_s=100.0, group_per_minute=5, global_burst=100)
    budget = TelegramBudget(config, clock=clock)
    taken = 0
    for _ in range(100):  # bounded: a budget that never refuses fails below instead of looping forever
        if not budget.try_take(-100, Kind.MESSAGE, is_group=True, reserve=1):
            break
        taken += 1
        clock.now += 0.01
    assert taken == 4  # one slot stays free for the final text
    assert budget.try_take(-100, Kind.MESSAGE, is_group=True)  # the final may use it
    assert budget.delay(-100, Kind.MESSAGE, is_group=True) > 59
    clock.now += 60
    assert budget.try_take(-100, Kind.MESSAGE, is_group=True)


def test_retry_after_pauses_every_kind_of_call_in_the_chat() -> None:
    clock = Clock()
    budget = TelegramBudget(clock=clock)
    budget.pause_chat(7, 3)
    assert not budget.try_take(7, Kind.DRAFT, is_group=False)
    assert not budget.try_take(7, Kind.MESSAGE, is_group=False)
    assert budget.try_take(8, Kind.MESSAGE, is_group=False)
    clock.now += 3.1
    assert budget.try_take(7, Kind.MESSAGE, is_group=False)


def test_global_budget_is_shared_by_all_chats() -> None:
    clock = Clock()
    budget = TelegramBudget(BudgetConfig(global_burst=3, global_rate_per_s=1.0), clock=clock)
    assert all(budget.try_take(chat, Kind.MESSAGE, is_group=False) for chat in (1, 2, 3))
    assert not budget.try_take(4, Kind.MESSAGE, is_group=False)
    assert budget.try_take(4, Kind.DRAFT, is_group=False)  # drafts are not counted globally
