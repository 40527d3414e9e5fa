"""De-duplication of webhook deliveries: Telegram retries a delivery it thinks failed, and a load
balancer may hand the retry to another replica."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.storage.keys import Namespace, SeenUpdateKey

SEEN_TTL_S = 24 * 3600


class RedisUpdateLog:
    def __init__(self, redis: aioredis.Redis, ns: Namespace) -> None:
        self._redis = redis
        self._ns = ns

    async def first_delivery(self, update_id: int) -> bool:
        """True exactly once per update id across all replicas (SET NX)."""
        return bool(
            await self._redis.set(str(SeenUpdateKey(self._ns, update_id)), b"1", nx=True, ex=SEEN_TTL_S)
        )

    async def forget(self, update_id: int) -> None:
        """The update could not be handled: let a redelivery through."""
        await self._redis.delete(str(SeenUpdateKey(self._ns, update_id)))
