"""A circuit breaker for the model provider: during an outage, fail fast instead of piling up work.

States:
- CLOSED: calls go through. `failures` consecutive retryable failures (5xx, 429, timeouts,
  connection errors, a stream dying before its first text) open the breaker.
- OPEN: calls are refused at once, without reaching the provider, for the current cooldown.
- HALF_OPEN: the cooldown has passed; exactly one call (the probe) is let through. Its success closes
  the breaker; its failure re-opens it with the cooldown doubled, up to `max_cooldown`.

Any success closes the breaker and resets the count: a request the provider answered, even with a
rejection of that one request (4xx) or a lost context or index, shows that the provider is up.

The breaker lives in one process: each replica learns about an outage on its own, after its own
`failures` failures, and probes on its own. No shared state, so no extra Redis traffic per call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.core.errors import ProviderError

log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"

    @property
    def level(self) -> float:
        """For a gauge: 0 closed, 1 half-open, 2 open."""
        return _LEVELS[self]


_LEVELS = {BreakerState.CLOSED: 0.0, BreakerState.HALF_OPEN: 1.0, BreakerState.OPEN: 2.0}


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failures: int = 5
    """Consecutive retryable failures that open the breaker; 0 disables it (it never opens)."""
    cooldown: float = 15.0
    """Seconds the breaker stays open before it lets one probe through."""
    max_cooldown: float = 120.0
    """Each failed probe doubles the cooldown, up to this many seconds (no growth when below `cooldown`)."""


class ProviderUnavailableError(ProviderError):
    """The breaker is open: the provider was not called. Not retryable (retrying now is the pile-up
    the breaker prevents)."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"provider circuit open, next probe in {retry_in:.1f}s", retryable=False)
        self.retry_in = retry_in


class CircuitBreaker:
    """Not thread-safe; meant for one event loop. Every method is synchronous, so no await can
    interleave between a check and the state change it makes."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None  # None: closed
        self._cooldown = policy.cooldown
        self._probe: Permit | None = None  # the half-open probe in flight

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._probe is None and self._clock() - self._opened_at < self._cooldown:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def admit(self) -> Permit:
        """A permit for one provider call, or `ProviderUnavailableError` when the call must not be made.
        The caller reports how the call went through the permit (exactly one verdict counts)."""
        if self._opened_at is None:
            return Permit(self, probe=False)
        waited = self._clock() - self._opened_at
        if self._probe is not None or waited < self._cooldown:
            raise ProviderUnavailableError(max(0.0, self._cooldown - waited))
        self._probe = Permit(self, probe=True)
        log.info("provider circuit half-open: probing")
        return self._probe

    def _succeeded(self, permit: Permit) -> None:
        if self._opened_at is not None:
            log.info("provider circuit closed: the provider answered again")
        self._failures = 0
        self._opened_at = None
        self._cooldown = self._policy.cooldown
        self._probe = None

    def _failed(self, permit: Permit) -> None:
        if self._policy.failures <= 0:
            return
        if self._opened_at is None:
            self._failures += 1
            if self._failures >= self._policy.failures:
                self._open(f"{self._failures} consecutive provider failures")
            return
        if permit is self._probe:
            # The provider is still down: wait longer before the next probe.
            ceiling = max(self._policy.max_cooldown, self._policy.cooldown)
            self._cooldown = min(ceiling, self._cooldown * 2)
            self._open("the probe failed")
        # Otherwise a late failure of a call admitted before the breaker opened: nothing new.

    def _abandoned(self, permit: Permit) -> None:
        if permit is self._probe:
            self._probe = None  # no verdict: the next call may probe

    def _open(self, reason: str) -> None:
        self._opened_at = self._clock()
        self._probe = None
        log.warning("provider circuit open for %.1fs: %s", self._cooldown, reason)


class Permit:
    """One admitted provider call. The first of `succeeded`, `failed` or `abandoned` counts; later
    calls are ignored, so callers may report early and still call `abandoned` in a `finally`."""

    __slots__ = ("_breaker", "_settled", "probe")

    def __init__(self, breaker: CircuitBreaker, *, probe: bool) -> None:
        self._breaker = breaker
        self._settled = False
        self.probe = probe

    def succeeded(self) -> None:
        """The provider answered: a stream started producing text, or a request was rejected on its
        own merits (4xx, lost context or index)."""
        if not self._settled:
            self._settled = True
            self._breaker._succeeded(self)

    def failed(self) -> None:
        """A retryable failure: 5xx, 429, timeout, connection error, a stream dead before any text."""
        if not self._settled:
            self._settled = True
            self._breaker._failed(self)

    def abandoned(self) -> None:
        """No verdict (the user stopped, or an unexpected error on our side)."""
        if not self._settled:
            self._settled = True
            self._breaker._abandoned(self)

    def settle(self, error: ProviderError) -> None:
        """The verdict a provider error gives."""
        if error.retryable:
            self.failed()
        else:
            self.succeeded()
