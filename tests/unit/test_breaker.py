"""The provider circuit breaker's state machine, on a fake clock."""

from __future__ import annotations

import pytest

from bot.core.breaker import BreakerPolicy, BreakerState, CircuitBreaker, ProviderUnavailableError
from bot.core.errors import ContextLostError, ProviderError


def state(circuit: CircuitBreaker) -> BreakerState:
    """Read through a call, so mypy does not narrow the property across the calls in between."""
    return circuit.state


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(
    failures: int = 3, cooldown: float = 10.0, max_cooldown: float = 35.0
) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker(BreakerPolicy(failures, cooldown, max_cooldown), clock), clock


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.admit().failed()


def test_consecutive_failures_open_it_and_calls_are_refused_until_the_cooldown() -> None:
    breaker, clock = make(failures=3)
    fail(breaker, 2)
    assert state(breaker) is BreakerState.CLOSED
    fail(breaker)
    assert state(breaker) is BreakerState.OPEN
    clock.now += 4
    with pytest.raises(ProviderUnavailableError) as refused:
        breaker.admit()
    assert refused.value.retry_in == pytest.approx(6.0)
    assert not refused.value.retryable


def test_a_success_breaks_the_streak() -> None:
    breaker, _ = make(failures=3)
    fail(breaker, 2)
    breaker.admit().succeeded()
    fail(breaker, 2)
    assert state(breaker) is BreakerState.CLOSED


def test_rejections_and_lost_context_are_answers_not_failures() -> None:
    breaker, _ = make(failures=2)
    fail(breaker)
    breaker.admit().settle(ProviderError("400", retryable=False, status=400))
    fail(breaker)
    breaker.admit().settle(ContextLostError("gone"))
    fail(breaker)
    assert state(breaker) is BreakerState.CLOSED
    breaker.admit().settle(ProviderError("503", retryable=True, status=503))
    assert state(breaker) is BreakerState.OPEN


def test_after_the_cooldown_exactly_one_probe_goes_through_and_its_success_closes() -> None:
    breaker, clock = make(failures=1)
    fail(breaker)
    clock.now += 10
    assert state(breaker) is BreakerState.HALF_OPEN
    probe = breaker.admit()
    assert probe.probe
    with pytest.raises(ProviderUnavailableError):
        breaker.admit()  # one probe at a time
    assert state(breaker) is BreakerState.HALF_OPEN
    probe.succeeded()
    assert state(breaker) is BreakerState.CLOSED
    assert not breaker.admit().probe


def test_a_failed_probe_reopens_with_a_growing_cooldown_up_to_the_max() -> None:
    breaker, clock = make(failures=1, cooldown=10, max_cooldown=35)
    fail(breaker)
    for expected in (20.0, 35.0, 35.0):
        clock.now += 100
        breaker.admit().failed()
        assert state(breaker) is BreakerState.OPEN
        with pytest.raises(ProviderUnavailableError) as refused:
            breaker.admit()
        assert refused.value.retry_in == pytest.approx(expected)
    # Closing resets the cooldown: the next outage starts at 10 s again.
    clock.now += 35
    breaker.admit().succeeded()
    fail(breaker)
    clock.now += 10
    assert state(breaker) is BreakerState.HALF_OPEN


def test_a_max_below_the_cooldown_means_no_growth() -> None:
    breaker, clock = make(failures=1, cooldown=10, max_cooldown=1)
    fail(breaker)
    clock.now += 10
    breaker.admit().failed()
    clock.now += 10
    assert state(breaker) is BreakerState.HALF_OPEN


def test_an_abandoned_probe_lets_the_next_call_probe() -> None:
    breaker, clock = make(failures=1)
    fail(breaker)
    clock.now += 10
    breaker.admit().abandoned()
    assert state(breaker) is BreakerState.HALF_OPEN
    breaker.admit().succeeded()
    assert state(breaker) is BreakerState.CLOSED


def test_late_verdicts_of_calls_admitted_before_it_opened() -> None:
    breaker, clock = make(failures=2)
    early = [breaker.admit() for _ in range(4)]
    early[0].failed()
    early[1].failed()
    assert state(breaker) is BreakerState.OPEN
    early[2].failed()  # already open: neither extends the cooldown nor counts as a failed probe
    clock.now += 10
    assert state(breaker) is BreakerState.HALF_OPEN
    probe = breaker.admit()
    early[3].succeeded()  # the provider answered someone: it is up
    assert state(breaker) is BreakerState.CLOSED
    probe.failed()  # no longer a probe's verdict: one ordinary failure
    assert state(breaker) is BreakerState.CLOSED


def test_only_the_first_verdict_of_a_permit_counts() -> None:
    breaker, _ = make(failures=1)
    permit = breaker.admit()
    permit.succeeded()
    permit.failed()
    permit.abandoned()
    assert state(breaker) is BreakerState.CLOSED


def test_zero_failures_disables_it() -> None:
    breaker, _ = make(failures=0)
    fail(breaker, 100)
    assert state(breaker) is BreakerState.CLOSED


def test_the_gauge_level_follows_the_breaker_through_a_whole_outage() -> None:
    """`bot_provider_breaker_state` reads `state.level`: 0 closed, 2 open, 1 while a probe may go
    (the same levels are checked end to end by test_a_sustained_outage_opens_the_breaker_...)."""
    breaker, clock = make(failures=2, cooldown=10.0)
    levels = [breaker.state.level]
    fail(breaker)
    levels.append(breaker.state.level)  # one failure: still closed
    fail(breaker)
    levels.append(breaker.state.level)  # open
    clock.now += 10
    levels.append(breaker.state.level)  # cooldown over: half-open
    breaker.admit().succeeded()
    levels.append(breaker.state.level)  # the probe succeeded: closed
    assert levels == [0, 0, 2, 1, 0]
