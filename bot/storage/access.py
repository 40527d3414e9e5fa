"""Remembers that a refusal was sent to a chat, so it is sent at most once per hour."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.storage.keys import AccessNoticeKey, Namespace

REFUSAL_INTERVAL_S = 3600


class RedisRefusalLog:
    def __init__(self, redis: aioredis.Redis, ns: Namespace) -> None:
        self._redis = redis
        self._ns = ns

    async def should_refuse_loudly(self, chat_id: int) -> bool:
        """True for the first refusal in a chat within the interval (SET NX with a TTL)."""
        created = await self._redis.set(
            str(AccessNoticeKey(self._ns, chat_id)), b"1", nx=True, ex=REFUSAL_INTERVAL_S
        )
        return bool(created)
