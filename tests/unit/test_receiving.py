"""UpdateReceipt: when the health check says updates are not arriving."""

from __future__ import annotations

from bot.telegram.receiving import LONG_POLL_LIMIT_S, UpdateReceipt


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_pending_long_poll_after_a_good_one_is_fine_until_it_is_stuck() -> None:
    clock = Clock()
    receipt = UpdateReceipt(stale_after=5, clock=clock)
    receipt.polling()
    clock.now += 10  # a long poll waiting for updates
    assert receipt.problem() is None
    clock.now += LONG_POLL_LIMIT_S
    assert receipt.problem() == f"no updates received from Telegram for {10 + LONG_POLL_LIMIT_S:.0f} s"


def test_failures_count_from_the_last_success_and_a_success_heals() -> None:
    clock = Clock()
    receipt = UpdateReceipt(stale_after=5, clock=clock)
    receipt.received()
    clock.now += 1
    receipt.polling()
    receipt.failed("TelegramNetworkError")
    clock.now += 2
    receipt.polling()  # aiogram retries; a retry pending does not hide the failure
    assert receipt.problem() is None, "not stale yet"
    clock.now += 3
    assert receipt.problem() == "no updates received from Telegram for 6 s (last error: TelegramNetworkError)"
    receipt.received()
    assert receipt.problem() is None


def test_a_conflict_is_signalled() -> None:
    receipt = UpdateReceipt(stale_after=5)
    assert not receipt.conflict.is_set()
    receipt.conflicted("Conflict: terminated by other getUpdates request")
    assert receipt.conflict.is_set() and "other getUpdates" in receipt.conflict_reason
