"""Deterministic flood control modelled on the Bot FAQ limits (shared reference §1.2).

Three budgets guard "sends and edits" (sendMessage, sendRichMessage, editMessageText, editMessageReplyMarkup,
sendDocument):
- per chat: a token bucket (`chat_burst`, refilled at `chat_rate_per_s`);
- groups and supergroups additionally: at most `group_per_minute` within a rolling `group_window_s`;
- the whole bot: a token bucket (`global_burst`, `global_rate_per_s`).
Drafts (sendMessageDraft, sendRichMessageDraft) have their own per-chat bucket (`draft_burst`,
`draft_rate_per_s`) and count against nothing else; chat actions are not limited.

A request over budget fails with 429 `Too Many Requests: retry after N` (N whole seconds, at least 1, the time
until the budget allows it) and opens a penalty window: until N seconds pass, every request of that family
(sends+edits of that chat, drafts of that chat, or all sends+edits for a global violation) fails with the
remaining time. Rejected requests consume nothing. Every 429 is recorded as a violation.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import FakeConfig
from .errors import too_many_requests

SEND_METHODS = frozenset(
    {"sendMessage", "sendRichMessage", "editMessageText", "editMessageReplyMarkup", "sendDocument"}
)
DRAFT_METHODS = frozenset({"sendMessageDraft", "sendRichMessageDraft"})


@dataclass
class _Bucket:
    tokens: float
    updated: float

    def refill(self, now: float, capacity: float, rate: float) -> None:
        self.tokens = min(capacity, self.tokens + (now - self.updated) * rate)
        self.updated = now

    def seconds_until_token(self, rate: float) -> float:
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / rate


@dataclass
class _Penalty:
    until: float
    kind: str


def _whole_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds - 1e-9))


class RateLimiter:
    def __init__(self, config: FakeConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._chat_buckets: dict[int, _Bucket] = {}
        self._draft_buckets: dict[int, _Bucket] = {}
        self._global_bucket: _Bucket | None = None
        self._group_windows: dict[int, deque[float]] = {}
        self._penalties: dict[tuple[str, int | None], _Penalty] = {}
        self.violations: list[dict[str, Any]] = []

    def reset(self) -> None:
        self._chat_buckets.clear()
        self._draft_buckets.clear()
        self._global_bucket = None
        self._group_windows.clear()
        self._penalties.clear()
        self.violations.clear()

    def check_send(self, method: str, chat_id: int, *, is_group: bool) -> None:
        """Admit one send/edit to `chat_id` or raise 429."""
        config = self._config
        if not config.rate_limits_enabled:
            return
        now = self._clock()
        self._check_penalty(("global", None), method, chat_id, now)
        self._check_penalty(("send", chat_id), method, chat_id, now)

        global_bucket = self._global_bucket or _Bucket(config.global_burst, now)
        self._global_bucket = global_bucket
        global_bucket.refill(now, config.global_burst, config.global_rate_per_s)
        chat_bucket = self._chat_buckets.setdefault(chat_id, _Bucket(config.chat_burst, now))
        chat_bucket.refill(now, config.chat_burst, config.chat_rate_per_s)
        window = self._group_windows.setdefault(chat_id, deque())
        while window and window[0] <= now - config.group_window_s:
            window.popleft()

        if global_bucket.tokens < 1:
            wait = global_bucket.seconds_until_token(config.global_rate_per_s)
            self._violate(("global", None), "global", method, chat_id, wait, now)
        if chat_bucket.tokens < 1:
            wait = chat_bucket.seconds_until_token(config.chat_rate_per_s)
            self._violate(("send", chat_id), "chat", method, chat_id, wait, now)
        if is_group and len(window) >= config.group_per_minute:
            wait = window[0] + config.group_window_s - now
            self._violate(("send", chat_id), "group", method, chat_id, wait, now)

        global_bucket.tokens -= 1
        chat_bucket.tokens -= 1
        if is_group:
            window.append(now)

    def check_draft(self, method: str, chat_id: int) -> None:
        """Admit one draft frame to `chat_id` or raise 429."""
        config = self._config
        if not config.rate_limits_enabled:
            return
        now = self._clock()
        self._check_penalty(("draft", chat_id), method, chat_id, now)
        bucket = self._draft_buckets.setdefault(chat_id, _Bucket(config.draft_burst, now))
        bucket.refill(now, config.draft_burst, config.draft_rate_per_s)
        if bucket.tokens < 1:
            wait = bucket.seconds_until_token(config.draft_rate_per_s)
            self._violate(("draft", chat_id), "draft", method, chat_id, wait, now)
        bucket.tokens -= 1

    def _check_penalty(self, key: tuple[str, int | None], method: str, chat_id: int, now: float) -> None:
        penalty = self._penalties.get(key)
        if penalty is None:
            return
        if now >= penalty.until:
            del self._penalties[key]
            return
        retry_after = _whole_seconds(penalty.until - now)
        self._record(method, chat_id, penalty.kind, retry_after, now, in_penalty=True)
        raise too_many_requests(retry_after)

    def _violate(
        self, key: tuple[str, int | None], kind: str, method: str, chat_id: int, wait: float, now: float
    ) -> None:
        retry_after = _whole_seconds(wait)
        self._penalties[key] = _Penalty(until=now + retry_after, kind=kind)
        self._record(method, chat_id, kind, retry_after, now, in_penalty=False)
        raise too_many_requests(retry_after)

    def _record(
        self, method: str, chat_id: int, kind: str, retry_after: int, now: float, *, in_penalty: bool
    ) -> None:
        self.violations.append(
            {
                "method": method,
                "chat_id": chat_id,
                "kind": kind,
                "retry_after": retry_after,
                "at": time.time(),
                "in_penalty": in_penalty,
            }
        )
