"""Fault injection: make the next calls of a method fail exactly like Telegram would (429, 5xx, ...).

An injected 429 opens the same penalty window an earned one does (see ratelimit.py): on the call's chat by
default, on the whole bot with `penalty="global"`. An injected error may come `after_delivery`: the call is
carried out (the message is shown) and only then answered with the error, as when Telegram's front end
times out behind a back end that did the work; a bot that repeats such a send shows the text twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BotApiError
from .ratelimit import PenaltyScope


@dataclass
class _Fault:
    remaining: int
    error_code: int
    description: str
    retry_after: int | None
    migrate_to_chat_id: int | None
    penalty: PenaltyScope
    after_delivery: bool

    def to_error(self) -> BotApiError:
        parameters: dict[str, int] = {}
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        return BotApiError(self.error_code, self.description, parameters)


@dataclass(frozen=True)
class InjectedFault:
    error: BotApiError
    penalty: PenaltyScope
    after_delivery: bool


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
        penalty: PenaltyScope = "chat",
        after_delivery: bool = False,
    ) -> None:
        """Queue `count` failures for `method` (case-insensitive); queued faults are used in order."""
        if count < 1:
            raise ValueError("count must be at least 1")
        if penalty not in ("chat", "global"):
            raise ValueError("penalty must be 'chat' or 'global'")
        fault = _Fault(
            count, error_code, description, retry_after, migrate_to_chat_id, penalty, after_delivery
        )
        self._faults.setdefault(method.lower(), []).append(fault)

    def take(self, method: str) -> InjectedFault | None:
        queue = self._faults.get(method.lower())
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining == 0:
            queue.pop(0)
        return InjectedFault(fault.to_error(), fault.penalty, fault.after_delivery)

    def reset(self) -> None:
        self._faults.clear()
