"""The bot's pending updates and `getUpdates` long polling.

Updates get increasing `update_id`s and wait here until confirmed: by a `getUpdates` call with a higher
`offset` (polling) or by a 2xx answer from the webhook (see webhook.py). Like Telegram, a newer `getUpdates`
request terminates a pending one, which then fails with 409 Conflict; types outside `allowed_updates` are
dropped instead of delivered (by default everything except chat_member and message reactions).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import errors
from .errors import BotApiError

DEFAULT_EXCLUDED_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def update_type(update: dict[str, Any]) -> str:
    return next(key for key in update if key != "update_id")


def update_chat_id(update: dict[str, Any]) -> int | None:
    """The chat an update belongs to (webhook delivery keeps order per chat)."""
    body = update[update_type(update)]
    if not isinstance(body, dict):
        return None
    chat = body.get("chat") or (body.get("message") or {}).get("chat")
    return chat.get("id") if isinstance(chat, dict) else None


@dataclass
class _Poll:
    terminated: bool = False


class UpdateQueue:
    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self.allowed_updates: frozenset[str] | None = None  # None: the default set
        self._ids = itertools.count(1)
        self._wakeup = asyncio.Event()
        self._active_poll: _Poll | None = None
        self._closed = False
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def add_listener(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Called synchronously with each new update (the webhook deliverer subscribes)."""
        self._listeners.append(listener)

    def push(self, update_type_name: str, body: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._ids), update_type_name: body}
        self.pending.append(update)
        self.wake()
        for listener in self._listeners:
            listener(update)
        return update

    def is_allowed(self, update: dict[str, Any], allowed: frozenset[str] | None) -> bool:
        kind = update_type(update)
        return kind not in DEFAULT_EXCLUDED_TYPES if not allowed else kind in allowed

    def remove(self, update: dict[str, Any]) -> None:
        if update in self.pending:
            self.pending.remove(update)

    def clear(self) -> None:
        self.pending.clear()
        self.wake()

    def wake(self) -> None:
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def close(self) -> None:
        """Shutdown: pending long polls return at once."""
        self._closed = True
        self.wake()

    async def poll(
        self,
        *,
        offset: int | None,
        limit: int,
        timeout: float,
        allowed_updates: list[str] | None,
        webhook_active: Callable[[], bool],
    ) -> list[dict[str, Any]]:
        if webhook_active():
            raise BotApiError(409, errors.CONFLICT_WEBHOOK_ACTIVE)
        if allowed_updates is not None:
            self.allowed_updates = frozenset(allowed_updates)
        if self._active_poll is not None:
            self._active_poll.terminated = True
            self.wake()
        poll = _Poll()
        self._active_poll = poll
        try:
            self._confirm(offset)
            deadline = time.monotonic() + max(0.0, timeout)
            while True:
                if poll.terminated:
                    raise BotApiError(409, errors.CONFLICT_OTHER_POLLER)
                if webhook_active():
                    raise BotApiError(409, errors.CONFLICT_WEBHOOK_ACTIVE)
                ready = self._take(limit)
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0 or self._closed:
                    return ready
                wakeup = self._wakeup
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), remaining)
        finally:
            if self._active_poll is poll:
                self._active_poll = None

    def _confirm(self, offset: int | None) -> None:
        if offset is None or offset == 0:
            return
        if offset < 0:
            del self.pending[: max(0, len(self.pending) + offset)]
            return
        self.pending = [u for u in self.pending if u["update_id"] >= offset]

    def _take(self, limit: int) -> list[dict[str, Any]]:
        allowed = self.allowed_updates
        dropped = [u for u in self.pending if not self.is_allowed(u, allowed)]
        for update in dropped:
            self.pending.remove(update)
        return self.pending[: max(1, min(limit, 100))]
