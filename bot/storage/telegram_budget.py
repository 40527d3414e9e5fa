"""Telegram rate budgets shared by every replica of the bot through Redis.

Same budgets and semantics as the in-process `TelegramBudget` (bot.telegram.budget): a token bucket
per chat for sends+edits, a faster one per chat for drafts, a bot-wide bucket, a rolling per-minute
window for groups, and a pause after a 429. Each decision is ONE Lua script call (one round trip):
the script reads the clock with Redis `TIME`, so all replicas share one clock, computes the wait,
and, when asked to and nothing has to wait, consumes the operation atomically.

State lives in keys that expire by themselves (see storage.keys, TelegramChatRateKey):
- buckets: hash {tokens, ts (µs)}, expiring once the bucket would be full again;
- group window: sorted set of accepted operations scored by time (µs), expiring after one window;
- pause: a string with a PX expiry of `retry_after` (+50 ms).

When Redis cannot be reached (connection refused, timeout) the decision is made by the in-process
`TelegramBudget`, so answers and "temporarily unavailable" notices still go out within a budget
(each replica then spends its own budget, which may exceed Telegram's limit by the number of
replicas until Redis is back). A warning is logged at most once per minute. Pauses and migrations are
always recorded locally too, so the fallback knows about them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.storage.keys import Namespace, TelegramChatRateKey, TelegramGlobalRateKey
from bot.telegram.budget import BudgetConfig, Kind, TelegramBudget

log = logging.getLogger(__name__)

# Errors that mean "Redis is not there right now" (redis-py wraps socket errors in its own types).
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)
WARNING_INTERVAL_S = 60.0
PAUSE_MARGIN_S = 0.05  # as the local budget: a little past Telegram's retry_after

# KEYS: pause, bucket (chat messages or drafts), global bucket, group window.
# ARGV: mode (0 ask, 1 take if nothing has to wait, 2 reserve), draft (0|1), rate, capacity,
#       bucket reserve, global rate, global capacity, window limit (0: not a group), window span (µs),
#       window reserve, unique member suffix.
# Returns {taken (0|1), wait (µs, rounded up)}. Reserving always takes: the operation's turn is
# booked (buckets may go below zero, the window entry is dated when the turn comes) and `wait` says
# when it comes, so a waiting sender sleeps once instead of asking again and again.
_DECIDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local take = ARGV[1] ~= '0'
local reserve_turn = ARGV[1] == '2'
local draft = ARGV[2] == '1'

local function level(key, rate, cap)
  local v = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens, ts = tonumber(v[1]), tonumber(v[2])
  if tokens == nil or ts == nil then return cap end
  local elapsed = (now - ts) / 1000000
  if elapsed < 0 then elapsed = 0 end
  tokens = tokens + elapsed * rate
  if tokens > cap then tokens = cap end
  return tokens
end

local function bucket_wait(tokens, rate, reserve)
  local missing = 1 + reserve - tokens
  if missing <= 0 then return 0 end
  return missing / rate * 1000000
end

local function spend(key, tokens, rate, cap)
  tokens = tokens - 1
  redis.call('HSET', key, 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.0f', now))
  redis.call('PEXPIRE', key, math.ceil((cap - tokens) / rate * 1000) + 1000)
end

local wait = 0
local pause = redis.call('PTTL', KEYS[1])
if pause > 0 then wait = pause * 1000 end

local rate, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local tokens = level(KEYS[2], rate, cap)
wait = math.max(wait, bucket_wait(tokens, rate, tonumber(ARGV[5])))

local grate, gcap, gtokens = 0, 0, 0
local limit, span = tonumber(ARGV[8]), tonumber(ARGV[9])
if not draft then
  grate, gcap = tonumber(ARGV[6]), tonumber(ARGV[7])
  gtokens = level(KEYS[3], grate, gcap)
  wait = math.max(wait, bucket_wait(gtokens, grate, 0))
  if limit > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - span)
    local count = redis.call('ZCARD', KEYS[4])
    local allowed = limit - tonumber(ARGV[10])
    if count >= allowed then
      if allowed <= 0 then
        wait = math.max(wait, span)
      else
        local oldest = redis.call('ZRANGE', KEYS[4], count - allowed, count - allowed, 'WITHSCORES')
        wait = math.max(wait, tonumber(oldest[2]) + span - now)
      end
    end
  end
end

if not take or (wait > 0 and not reserve_turn) then return {0, math.ceil(wait)} end

spend(KEYS[2], tokens, rate, cap)
if not draft then
  spend(KEYS[3], gtokens, grate, gcap)
  if limit > 0 then
    local at = now + wait
    redis.call('ZADD', KEYS[4], at, string.format('%.0f', at) .. ':' .. ARGV[11])
    redis.call('PEXPIRE', KEYS[4], math.ceil((span + wait) / 1000) + 1000)
  end
end
return {1, math.ceil(wait)}
"""

# KEYS: pause. ARGV: milliseconds. A pause only ever grows (as `max` in the local budget).
_PAUSE = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return 1
"""

# KEYS: old1, new1, old2, new2, ... Each existing old key replaces its new one (as the local budget).
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

_CHAT_FAMILIES = ("pause", "chat", "draft", "window")


class RedisTelegramBudget:
    """`bot.telegram.budget.Budget` shared through Redis, with the in-process budget as fallback.

    Cost: `delay`, `try_take` and `pause_chat` are one round trip each; `take` is one round trip
    when the budget allows at once, plus one per wake-up when it has to wait; `move_chat` is one.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        ns: Namespace,
        config: BudgetConfig | None = None,
        *,
        fallback: TelegramBudget | None = None,
        call_timeout_s: float = 5.0,
    ) -> None:
        self._redis = redis
        self._ns = ns
        self._config = config or BudgetConfig()
        self._fallback = fallback or TelegramBudget(self._config)
        self._call_timeout_s = call_timeout_s
        self._decide = redis.register_script(_DECIDE)
        self._pause = redis.register_script(_PAUSE)
        self._move = redis.register_script(_MOVE)
        self._member = uuid.uuid4().hex  # with the time, makes window entries unique across replicas
        self._sequence = 0
        self._last_warning = -math.inf
        self.fallbacks = 0  # calls answered locally because Redis was unavailable (tests, diagnostics)

    async def delay(self, chat_id: int, kind: Kind, *, is_group: bool, reserve: int = 0) -> float:
        try:
            _, wait = await self._run_decide(chat_id, kind, is_group, reserve, take=False)
        except UNAVAILABLE as error:
            self._unavailable(error)
            return self._fallback.delay(chat_id, kind, is_group=is_group, reserve=reserve)
        return wait

    async def try_take(self, chat_id: int, kind: Kind, *, is_group: bool, reserve: int = 0) -> bool:
        try:
            taken, _ = await self._run_decide(chat_id, kind, is_group, reserve, take=True)
        except UNAVAILABLE as error:
            self._unavailable(error)
            return self._fallback.try_take(chat_id, kind, is_group=is_group, reserve=reserve)
        return taken

    async def take(self, chat_id: int, kind: Kind, *, is_group: bool) -> None:
        """Book the operation's turn in one round trip, then sleep until it comes (no polling: a
        thousand waiting senders would otherwise each ask Redis again at every wake-up)."""
        try:
            _, wait = await self._run_decide(chat_id, kind, is_group, 0, take=True, reserve_turn=True)
        except UNAVAILABLE as error:
            self._unavailable(error)
            await self._fallback.take(chat_id, kind, is_group=is_group)
            return
        if wait > 0:
            await asyncio.sleep(wait)

    async def pause_chat(self, chat_id: int, seconds: float) -> None:
        self._fallback.pause_chat(chat_id, seconds)
        ms = math.ceil((seconds + PAUSE_MARGIN_S) * 1000)
        try:
            async with asyncio.timeout(self._call_timeout_s):
                await self._pause(keys=[self._chat_key("pause", chat_id)], args=[ms])
        except UNAVAILABLE as error:
            self._unavailable(error)

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        self._fallback.move_chat(old_chat_id, new_chat_id)
        keys: list[str] = []
        for family in _CHAT_FAMILIES:
            keys += [self._chat_key(family, old_chat_id), self._chat_key(family, new_chat_id)]
        try:
            async with asyncio.timeout(self._call_timeout_s):
                await self._move(keys=keys)
        except UNAVAILABLE as error:
            self._unavailable(error)

    async def _run_decide(
        self,
        chat_id: int,
        kind: Kind,
        is_group: bool,
        reserve: int,
        *,
        take: bool,
        reserve_turn: bool = False,
    ) -> tuple[bool, float]:
        c = self._config
        draft = kind is Kind.DRAFT
        if draft:
            rate, capacity, bucket_reserve = c.draft_rate_per_s, c.draft_burst, 0
        else:
            # As the local budget: frames keep `reserve` tokens of the chat's bucket free too.
            rate, capacity = c.chat_rate_per_s, c.chat_burst
            bucket_reserve = max(0, min(reserve, capacity - 1))
        self._sequence += 1
        async with asyncio.timeout(self._call_timeout_s):
            result = await self._decide(
                keys=[
                    self._chat_key("pause", chat_id),
                    self._chat_key("draft" if draft else "chat", chat_id),
                    str(TelegramGlobalRateKey(self._ns)),
                    self._chat_key("window", chat_id),
                ],
                args=[
                    2 if reserve_turn else int(take),
                    int(draft),
                    repr(float(rate)),
                    repr(float(capacity)),
                    bucket_reserve,
                    repr(float(c.global_rate_per_s)),
                    repr(float(c.global_burst)),
                    c.group_per_minute if is_group else 0,
                    round(c.group_window_s * 1_000_000),
                    reserve,
                    f"{self._member}:{self._sequence}",
                ],
            )
        taken, wait_us = result
        return bool(int(taken)), int(wait_us) / 1_000_000

    def _chat_key(self, family: str, chat_id: int) -> str:
        return str(TelegramChatRateKey(self._ns, family, chat_id))

    def _unavailable(self, error: BaseException) -> None:
        self.fallbacks += 1
        now = time.monotonic()
        if now - self._last_warning >= WARNING_INTERVAL_S:
            self._last_warning = now
            log.warning(
                "Redis unavailable for the shared Telegram budget (%s); deciding in this process",
                type(error).__name__,
            )
