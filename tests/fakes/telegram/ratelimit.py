"""Deterministic flood control: the strictest reading of Telegram's documented limits (README "Rate-limit model").

- Global: at most `global_per_window` calls of the limited methods (sends, edits AND drafts) in ANY rolling
  `global_window_s` (a sliding log of accepted calls, not a bucket: no burst on top of the rate).
- Per chat: sends+edits share a token bucket (`chat_burst`, refilled at `chat_rate_per_s`); drafts have a
  bucket of their own (`draft_burst`, `draft_rate_per_s`).
- Groups and supergroups additionally: at most `group_per_minute` sends+edits within a rolling
  `group_window_s`.
Chat actions are not limited.

A request over budget fails with 429 `Too Many Requests: retry after N` (N whole seconds, at least 1, the time
until the budget allows it) and opens a penalty window on what it was about: the chat's sends+edits (chat or
group limit), the chat's drafts (draft limit), or the WHOLE BOT (global limit: every limited call of every
chat). Inside the window every such request fails with the remaining time. An injected 429 (`fail_next`)
opens the same window (`penalise`; recorded in `injected`). Rejected requests consume nothing. Every 429 the bot
earns (over a limit, or inside a penalty window) is recorded as a violation.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .config import FakeConfig
from .errors import too_many_requests

SEND_METHODS = frozenset(
    {"sendMessage", "sendRichMessage", "editMessageText", "editMessageReplyMarkup", "sendDocument"}
)
DRAFT_METHODS = frozenset({"sendMessageDraft", "sendRichMessageDraft"})
LIMITED_METHODS = SEND_METHODS | DRAFT_METHODS

PenaltyScope = Literal["chat", "global"]
_GLOBAL = ("global", None)


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
        self._global_log: deque[float] = deque()
        self._group_windows: dict[int, deque[float]] = {}
        self._penalties: dict[tuple[str, int | None], _Penalty] = {}
        self.violations: list[dict[str, Any]] = []
        self.injected: list[dict[str, Any]] = []
        self.accepted = 0  # limited calls admitted (introspection for benchmarks and tests)
        self.peak_per_window = 0  # the most limited calls admitted within one rolling global window

    def reset(self) -> None:
        self._chat_buckets.clear()
        self._draft_buckets.clear()
        self._global_log.clear()
        self._group_windows.clear()
        self._penalties.clear()
        self.violations.clear()
        self.injected.clear()
        self.accepted = 0
        self.peak_per_window = 0

    def check_send(self, method: str, chat_id: int, *, is_group: bool) -> None:
        """Admit one send/edit to `chat_id` or raise 429."""
        config = self._config
        if not config.rate_limits_enabled:
            return
        now = self._clock()
        self._check_penalty(_GLOBAL, method, chat_id, now)
        self._check_penalty(("send", chat_id), method, chat_id, now)

        chat_bucket = self._chat_buckets.setdefault(chat_id, _Bucket(config.chat_burst, now))
        chat_bucket.refill(now, config.chat_burst, config.chat_rate_per_s)
        window = self._group_windows.setdefault(chat_id, deque())
        while window and window[0] <= now - config.group_window_s:
            window.popleft()

        self._check_global(method, chat_id, now)
        if chat_bucket.tokens < 1:
            wait = chat_bucket.seconds_until_token(config.chat_rate_per_s)
            self._violate(("send", chat_id), "chat", method, chat_id, wait, now)
        if is_group and len(window) >= config.group_per_minute:
            wait = window[0] + config.group_window_s - now
            self._violate(("send", chat_id), "group", method, chat_id, wait, now)

        self._admit(now)
        chat_bucket.tokens -= 1
        if is_group:
            window.append(now)

    def check_draft(self, method: str, chat_id: int) -> None:
        """Admit one draft frame to `chat_id` or raise 429."""
        config = self._config
        if not config.rate_limits_enabled:
            return
        now = self._clock()
        self._check_penalty(_GLOBAL, method, chat_id, now)
        self._check_penalty(("draft", chat_id), method, chat_id, now)
        bucket = self._draft_buckets.setdefault(chat_id, _Bucket(config.draft_burst, now))
        bucket.refill(now, config.draft_burst, config.draft_rate_per_s)
        self._check_global(method, chat_id, now)
        if bucket.tokens < 1:
            wait = bucket.seconds_until_token(config.draft_rate_per_s)
            self._violate(("draft", chat_id), "draft", method, chat_id, wait, now)
        self._admit(now)
        bucket.tokens -= 1

    def penalise(
        self, method: str, chat_id: int | None, retry_after: int, scope: PenaltyScope = "chat"
    ) -> None:
        """An injected 429 (fault injection) for `method`: open the same window an earned one would."""
        if not self._config.rate_limits_enabled:
            return
        now = self._clock()
        if scope == "global" or chat_id is None:
            key: tuple[str, int | None] = _GLOBAL
            kind = "global"
        elif method in DRAFT_METHODS:
            key, kind = ("draft", chat_id), "draft"
        else:
            key, kind = ("send", chat_id), "chat"
        until = now + max(1, retry_after)
        current = self._penalties.get(key)
        if current is None or current.until < until:
            self._penalties[key] = _Penalty(until=until, kind=kind)
        self.injected.append(
            {
                "method": method,
                "chat_id": chat_id,
                "kind": kind,
                "retry_after": retry_after,
                "at": time.time(),
            }
        )

    def _check_global(self, method: str, chat_id: int, now: float) -> None:
        config = self._config
        log = self._global_log
        while log and log[0] <= now - config.global_window_s:
            log.popleft()
        if len(log) >= config.global_per_window:
            wait = log[len(log) - config.global_per_window] + config.global_window_s - now
            self._violate(_GLOBAL, "global", method, chat_id, wait, now)

    def _admit(self, now: float) -> None:
        self._global_log.append(now)
        self.accepted += 1
        self.peak_per_window = max(self.peak_per_window, len(self._global_log))

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
        self,
        method: str,
        chat_id: int,
        kind: str,
        retry_after: int,
        now: float,
        *,
        in_penalty: bool,
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
