"""Trying a provider call again after a transient failure, with jittered exponential backoff.

Answers retry only while nothing was shown (core.answering has its own loop for that); calls with no
user-visible side effect — uploads, index calls — go through `retrying`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from bot.core.errors import ProviderError

log = logging.getLogger(__name__)

T = TypeVar("T")


class Backoff(Protocol):
    """How often and how long to wait (core.answering.RetryPolicy is one)."""

    @property
    def attempts(self) -> int: ...

    def delay(self, attempt: int) -> float: ...


async def retrying(call: Callable[[], Awaitable[T]], policy: Backoff, what: str) -> T:
    """`call()` until it succeeds, a failure is not transient (`ProviderError.retryable` false, or
    any other exception), or `policy.attempts` are spent; the last failure is raised."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except ProviderError as error:
            if not error.retryable or attempt >= policy.attempts:
                raise
            delay = policy.delay(attempt)
            log.info("%s failed (%s), retry %d in %.2fs", what, error, attempt, delay)
            await asyncio.sleep(delay)
