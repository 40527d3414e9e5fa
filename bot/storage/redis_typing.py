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


def text_of(value: object) -> str:
    """A reply item as text: redis-py gives bytes unless the client decodes responses."""
    return value.decode() if isinstance(value, bytes) else str(value)
