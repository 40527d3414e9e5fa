"""A liveness signal: the serving process refreshes a timestamp and whether it is receiving updates;
`python -m bot.health` reads it. Also the doctor's Redis read/write probe."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.storage.keys import DoctorProbeKey, HeartbeatKey, Namespace
from bot.storage.redis_typing import awaited

log = logging.getLogger(__name__)

INTERVAL_S = 30.0
STALE_AFTER_S = 90.0
PROBE_TTL_S = 60


@dataclass(frozen=True)
class Beat:
    age: float
    """Seconds since the serving process last wrote it."""
    problem: str | None
    """Why updates are not arriving, if they are not."""


async def beat_forever(
    redis: aioredis.Redis, ns: Namespace, problem: Callable[[], str | None] = lambda: None
) -> None:
    while True:
        value = json.dumps({"at": time.time(), "problem": problem()})
        try:
            await redis.set(str(HeartbeatKey(ns)), value, ex=int(STALE_AFTER_S * 2))
        except (RedisError, OSError) as error:
            log.warning("heartbeat not written: %s", type(error).__name__)
        await asyncio.sleep(INTERVAL_S)


async def last_beat(redis: aioredis.Redis, ns: Namespace) -> Beat | None:
    raw = await redis.get(str(HeartbeatKey(ns)))
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, int | float):  # written by a version that only wrote the time
        return Beat(time.time() - float(value), None)
    if not isinstance(value, dict) or not isinstance(value.get("at"), int | float):
        return None
    problem = value.get("problem")
    return Beat(time.time() - float(value["at"]), problem if isinstance(problem, str) else None)


async def probe(redis: aioredis.Redis, ns: Namespace) -> None:
    """Write, read back and delete a short-lived key; raises RedisError/OSError, or AssertionError when
    the value read differs from the one written."""
    key, value = str(DoctorProbeKey(ns, secrets.token_hex(4))), secrets.token_hex(8)
    await redis.set(key, value, ex=PROBE_TTL_S)
    read = await redis.get(key)
    await awaited(redis.delete(key))
    if (read.decode() if isinstance(read, bytes) else read) != value:
        raise AssertionError("the value read back differs from the one written")
