"""Telegram output budgets shared by every replica of the bot through Redis.

The same rule as `bot.core.output_limits.LocalOutputState` (read it first), in Lua: a batch of turn
requests is decided by ONE script call (one round trip for every request of the batch), which reads the
clock with Redis `TIME`, so all replicas share one clock. Penalties after a 429 are one call too.

State lives in keys that expire by themselves (see storage.keys, TelegramChatRateKey and
TelegramGlobalRateKey): buckets as hashes {tokens, ts (µs)}; the group window as a sorted set of send
times (µs); pauses as strings with a PX expiry; the GCRA time of the next global slot; learnt factors as
hashes {f, ts}.

When Redis cannot be reached (connection refused, timeout) the decision is made by the in-process
`LocalOutputStore`, so answers and "temporarily unavailable" notices still go out within a budget
(each replica then spends its own budget, which may exceed Telegram's limit by the number of replicas
until Redis is back). A warning is logged at most once per minute. Penalties and migrations are always
recorded locally too, so the fallback knows about them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.core.output_limits import Grant, Kind, LocalOutputStore, OutputLimits, TurnRequest
from bot.storage.keys import Namespace, TelegramChatRateKey, TelegramGlobalRateKey

log = logging.getLogger(__name__)

# Errors that mean "Redis is not there right now" (redis-py wraps socket errors in its own types).
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)
WARNING_INTERVAL_S = 60.0
CLOCK_OFFSET_SAMPLES = 64  # decisions over which the clock offset is the smallest seen (clocks drift)

_LEARNT = """
local function learnt(key, now, recovery)
  local v = redis.call('HMGET', key, 'f', 'ts')
  local f, ts = tonumber(v[1]), tonumber(v[2])
  if f == nil or ts == nil then return 1 end
  local elapsed = now - ts
  if elapsed < 0 then elapsed = 0 end
  f = f + elapsed * recovery
  if f > 1 then f = 1 end
  return f
end
"""

# KEYS: global tat, global pause, global learn; then per request: pause (sends+edits or drafts),
#       bucket (chat or draft), group window, draft learn.
# ARGV: [1] global calls/s (margin applied), [2] recovery per µs, [3] chat rate/s, [4] chat capacity,
#       [5] draft rate/s, [6] draft capacity, [7] group limit, [8] group span (µs), [9] group reserve,
#       [10] final-text horizon (µs), [11] first-frame horizon (µs), [12] frame horizon (µs),
#       [13] unique member suffix, [14] lead added to every horizon (µs); then per request: draft (0|1), group (0|1), priority (0 final,
#       1 first frame, 2 frame).
# Returns Redis's time (µs), then {outcome, wait (µs, rounded up)} per request, flattened; outcome
# 1 granted (wait: until the slot), 0 refused for this chat, 2 refused for the whole bot (booked up or
# paused).
_DECIDE = (
    _LEARNT
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local recovery = tonumber(ARGV[2])
local interval = 1000000 / (tonumber(ARGV[1]) * learnt(KEYS[3], now, recovery))
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local tat_changed = false
local bot_pause = redis.call('PTTL', KEYS[2])
local span = tonumber(ARGV[8])
local lead = tonumber(ARGV[14])
local horizons = {tonumber(ARGV[10]) + lead, tonumber(ARGV[11]) + lead, tonumber(ARGV[12]) + lead}
local out = {now}
local n = (#ARGV - 14) / 3
for i = 1, n do
  local k = 3 + (i - 1) * 4
  local a = 14 + (i - 1) * 3
  local draft = ARGV[a + 1] == '1'
  local windowed = ARGV[a + 2] == '1' and not draft
  local priority = tonumber(ARGV[a + 3])
  local final = priority == 0
  local slot = math.max(tat, now)
  local horizon = horizons[priority + 1]
  if bot_pause > 0 then
    out[#out + 1] = 2
    out[#out + 1] = bot_pause * 1000
  elseif slot - now > horizon then
    out[#out + 1] = 2
    out[#out + 1] = math.ceil(slot - horizon - now)
  else
    local wait = 0
    local pause = redis.call('PTTL', KEYS[k + 1])
    if pause > 0 then wait = pause * 1000 end
    local rate, cap, reserve
    if draft then
      rate = tonumber(ARGV[5]) * learnt(KEYS[k + 4], now, recovery)
      cap = tonumber(ARGV[6])
      reserve = 0
    else
      rate = tonumber(ARGV[3])
      cap = tonumber(ARGV[4])
      reserve = 0
      if not final then reserve = math.min(1, cap - 1) end
    end
    local v = redis.call('HMGET', KEYS[k + 2], 'tokens', 'ts')
    local tokens, ts = tonumber(v[1]), tonumber(v[2])
    if tokens == nil or ts == nil then
      tokens = cap
    else
      local elapsed = (now - ts) / 1000000
      if elapsed < 0 then elapsed = 0 end
      tokens = math.min(cap, tokens + elapsed * rate)
    end
    if tokens < 1 + reserve - 1e-9 then wait = math.max(wait, (1 + reserve - tokens) / rate * 1000000) end
    if windowed then
      redis.call('ZREMRANGEBYSCORE', KEYS[k + 3], '-inf', now - span)
      local count = redis.call('ZCARD', KEYS[k + 3])
      local allowed = tonumber(ARGV[7])
      if not final then allowed = allowed - tonumber(ARGV[9]) end
      if allowed <= 0 then
        wait = math.max(wait, span)
      elseif count >= allowed then
        local oldest = redis.call('ZRANGE', KEYS[k + 3], count - allowed, count - allowed, 'WITHSCORES')
        wait = math.max(wait, tonumber(oldest[2]) + span - now)
      end
    end
    if wait > 0 then
      out[#out + 1] = 0
      out[#out + 1] = math.ceil(wait)
    else
      tokens = tokens - 1
      redis.call('HSET', KEYS[k + 2], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.0f', now))
      redis.call('PEXPIRE', KEYS[k + 2], math.ceil((cap - tokens) / rate * 1000) + 1000)
      if windowed then
        redis.call('ZADD', KEYS[k + 3], slot, string.format('%.0f', slot) .. ':' .. ARGV[13] .. ':' .. i)
        redis.call('PEXPIRE', KEYS[k + 3], math.ceil((span + slot - now) / 1000) + 1000)
      end
      tat = slot + interval
      tat_changed = true
      out[#out + 1] = 1
      out[#out + 1] = math.ceil(slot - now)
    end
  end
end
if tat_changed then
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
return out
"""
)

# KEYS: pause (sends+edits or drafts), bucket, draft learn, last429, global pause, global learn.
# ARGV: [1] pause (ms), [2] draft (0|1), [3] recovery per µs, [4] draft backoff, [5] global backoff,
#       [6] lowest factor, [7] chat id. Returns the whole bot's pause (ms; ≤ 0: none).
_PENALISE = (
    _LEARNT
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ms = tonumber(ARGV[1])
local recovery = tonumber(ARGV[3])
local function lower(key, by)
  local f = math.max(tonumber(ARGV[6]), learnt(key, now, recovery) * tonumber(by))
  redis.call('HSET', key, 'f', string.format('%.17g', f), 'ts', string.format('%.0f', now))
  redis.call('PEXPIRE', key, math.ceil((1 - f) / recovery / 1000) + 1000)
end
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
redis.call('HSET', KEYS[2], 'tokens', '0', 'ts', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[2], 600000)
if ARGV[2] == '1' then lower(KEYS[3], ARGV[4]) end
-- 429s in two chats at once: taken for the bot-wide limit (see output_limits).
local previous = redis.call('GET', KEYS[4])
if previous and previous ~= ARGV[7] then
  if redis.call('PTTL', KEYS[5]) < ms then redis.call('SET', KEYS[5], '1', 'PX', ms) end
  lower(KEYS[6], ARGV[5])
end
redis.call('SET', KEYS[4], ARGV[7], 'PX', ms)
return redis.call('PTTL', KEYS[5])
"""
)

# KEYS: old1, new1, old2, new2, ... Each existing old key replaces its new one (as the local store).
_MOVE = """
local moved = 0
for i = 1, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('RENAME', KEYS[i], KEYS[i + 1])
    moved = moved + 1
  end
end
return moved
"""

_CHAT_FAMILIES = ("pause", "dpause", "chat", "draft", "window", "dlearn")


class RedisOutputStore:
    """`bot.core.output_limits.OutputStore` shared through Redis, with the in-process store as fallback.

    Cost: `decide` is one round trip for a whole batch of requests; `penalise` and `move_chat` one each.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        ns: Namespace,
        limits: OutputLimits | None = None,
        *,
        fallback: LocalOutputStore | None = None,
        call_timeout_s: float = 5.0,
    ) -> None:
        self._redis = redis
        self._ns = ns
        self._limits = limits = limits or OutputLimits()
        self._fallback = fallback or LocalOutputStore(limits)
        self._call_timeout_s = call_timeout_s
        self._decide = redis.register_script(_DECIDE)
        self._penalise = redis.register_script(_PENALISE)
        self._move = redis.register_script(_MOVE)
        self._member = uuid.uuid4().hex  # with the time, makes window entries unique across replicas
        self._sequence = 0
        self._last_warning = -math.inf
        self.fallbacks = 0  # calls answered locally because Redis was unavailable (tests, diagnostics)
        # Everything that does not change from call to call, computed once (not on the hot path).
        slack = limits.slack
        self._global_keys = [str(TelegramGlobalRateKey(ns, f)) for f in ("tat", "pause", "learn")]
        self._last_429_key = str(TelegramGlobalRateKey(ns, "last429"))
        self._fixed_args: list[str | int] = [
            repr(limits.global_per_s * slack),
            repr(limits.recovery_per_s / 1_000_000),
            repr(limits.chat_per_s * slack),
            limits.chat_burst,
            repr(limits.draft_per_s * slack),
            limits.draft_burst,
            limits.group_per_minute,
            round(limits.group_span_s * 1_000_000),
            limits.group_final_reserve,
            round(limits.final_horizon_s * 1_000_000),
            round(limits.first_frame_horizon_s * 1_000_000),
            round(limits.frame_horizon_s * 1_000_000),
        ]
        self._chat_keys: dict[int, list[str]] = {}
        self._clock_offsets: deque[float] = deque(maxlen=CLOCK_OFFSET_SAMPLES)

    async def decide(self, requests: Sequence[TurnRequest], lead_s: float = 0.0) -> list[Grant]:
        keys = list(self._global_keys)
        args = list(self._fixed_args)
        self._sequence += 1
        args += (f"{self._member}:{self._sequence}", round(lead_s * 1_000_000))
        for request in requests:
            pause, dpause, chat, draft, window, dlearn = self._keys_of(request.chat_id)
            if request.kind is Kind.DRAFT:
                keys += (dpause, draft, window, dlearn)
            else:
                keys += (pause, chat, window, dlearn)
            args += (int(request.kind is Kind.DRAFT), int(request.is_group), int(request.priority))
        asked_at = time.monotonic()
        try:
            async with asyncio.timeout(self._call_timeout_s):
                flat = await self._decide(keys=keys, args=args)
        except UNAVAILABLE as error:
            self._unavailable(error)
            return await self._fallback.decide(requests, lead_s)
        decided_at = self._local_time(flat[0] / 1_000_000, asked_at, time.monotonic())
        return [
            Grant(flat[i] == 1, flat[i + 1] / 1_000_000, decided_at, bot_wide=flat[i] == 2)
            for i in range(1, len(flat), 2)
        ]

    def _local_time(self, redis_time: float, asked_at: float, answered_at: float) -> float:
        """Redis's `TIME` at a decision, on this process's monotonic clock. The offset between the two
        clocks is the smallest (answer received − Redis time) of the recent decisions: the quickest round
        trip says it best. A reply that waited in a busy event loop thus still books from the decision's
        real moment, not from when it was read (calls would leave late, bunched with the next ones)."""
        self._clock_offsets.append(answered_at - redis_time)
        decided_at = redis_time + min(self._clock_offsets)
        return min(max(decided_at, asked_at), answered_at)  # the script ran while we waited for it

    async def penalise(self, chat_id: int, kind: Kind, retry_after: float) -> float:
        local_pause = await self._fallback.penalise(chat_id, kind, retry_after)
        limits = self._limits
        pause, dpause, chat, draft, _, dlearn = self._keys_of(chat_id)
        is_draft = kind is Kind.DRAFT
        keys = [
            dpause if is_draft else pause,
            draft if is_draft else chat,
            dlearn,
            self._last_429_key,
            self._global_keys[1],
            self._global_keys[2],
        ]
        args: list[str | int] = [
            math.ceil((retry_after + limits.pause_margin_s) * 1000),
            int(is_draft),
            repr(limits.recovery_per_s / 1_000_000),
            repr(limits.draft_backoff),
            repr(limits.global_backoff),
            repr(limits.min_factor),
            chat_id,
        ]
        try:
            async with asyncio.timeout(self._call_timeout_s):
                bot_pause_ms = await self._penalise(keys=keys, args=args)
        except UNAVAILABLE as error:
            self._unavailable(error)
            return local_pause
        return max(0.0, int(bot_pause_ms) / 1000)

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        await self._fallback.move_chat(old_chat_id, new_chat_id)
        keys: list[str] = []
        for old, new in zip(self._keys_of(old_chat_id), self._keys_of(new_chat_id), strict=True):
            keys += [old, new]
        try:
            async with asyncio.timeout(self._call_timeout_s):
                await self._move(keys=keys)
        except UNAVAILABLE as error:
            self._unavailable(error)

    def _keys_of(self, chat_id: int) -> list[str]:
        """The chat's keys in _CHAT_FAMILIES order (key strings cached: they never change)."""
        keys = self._chat_keys.get(chat_id)
        if keys is None:
            if len(self._chat_keys) > 10_000:
                self._chat_keys.clear()  # a cache of names, not state: cheap to rebuild
            keys = [str(TelegramChatRateKey(self._ns, family, chat_id)) for family in _CHAT_FAMILIES]
            self._chat_keys[chat_id] = keys
        return keys

    def _unavailable(self, error: BaseException) -> None:
        self.fallbacks += 1
        now = time.monotonic()
        if now - self._last_warning >= WARNING_INTERVAL_S:
            self._last_warning = now
            log.warning(
                "Redis unavailable for the shared Telegram budget (%s); deciding in this process",
                type(error).__name__,
            )
