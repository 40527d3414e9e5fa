"""Fault injection: make the next calls of a method fail exactly like Telegram would (429, 5xx, ...)."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BotApiError


@dataclass
class _Fault:
    remaining: int
    error_code: int
    description: str
    retry_after: int | None
    migrate_to_chat_id: int | None

    def to_error(self) -> BotApiError:
        parameters: dict[str, int] = {}
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        return BotApiError(self.error_code, self.description, parameters)


class FaultInjector:
    def __init__(self) -> None:
        self._faults: dict[str, list[_Fault]] = {}

    def fail_next(
        self,
        method: str,
        count: int = 1,
        *,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        """Queue `count` failures for `method` (case-insensitive); queued faults are used in order."""
        if count < 1:
            raise ValueError("count must be at least 1")
        fault = _Fault(count, error_code, description, retry_after, migrate_to_chat_id)
        self._faults.setdefault(method.lower(), []).append(fault)

    def take(self, method: str) -> BotApiError | None:
        queue = self._faults.get(method.lower())
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining == 0:
            queue.pop(0)
        return fault.to_error()

    def reset(self) -> None:
        self._faults.clear()
