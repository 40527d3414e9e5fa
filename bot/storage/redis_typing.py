"""redis-py types its asyncio commands as `Awaitable[T] | T`; this narrows them without casts."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def awaited(result: Awaitable[T] | T) -> T:
    if inspect.isawaitable(result):
        return await result
    return result
