"""Waiting for a condition with a deadline: a test that waits for something that never happens fails
with a clear message instead of hanging until the suite's global timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_until(condition: Callable[[], bool], *, timeout: float = 5.0, what: str = "condition") -> None:
    """Poll `condition` (every millisecond, so a test never waits much past the moment it holds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        await asyncio.sleep(0.001)
