"""A liveness signal: the serving process refreshes a timestamp; `python -m bot.health` reads it."""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.storage.keys import HeartbeatKey, Namespace

log = logging.getLogger(__name__)

INTERVAL_S = 30.0
STALE_AFTER_S = 90.0


async def beat_forever(redis: aioredis.Redis, ns: Namespace) -> None:
    while True:
        try:
            await redis.set(str(HeartbeatKey(ns)), str(time.time()), ex=int(STALE_AFTER_S * 2))
        except (RedisError, OSError) as error:
            log.warning("heartbeat not written: %s", type(error).__name__)
        await asyncio.sleep(INTERVAL_S)


async def last_beat_age(redis: aioredis.Redis, ns: Namespace) -> float | None:
    raw = await redis.get(str(HeartbeatKey(ns)))
    if raw is None:
        return None
    return time.time() - float(raw)
