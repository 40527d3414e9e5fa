"""De-duplication of webhook deliveries: Telegram retries a delivery it thinks failed, and a load
balancer may hand the retry to another replica.

An update is first marked `processing` for a short while, then `done` for a day. A redelivery that
finds it `processing` is refused with a retryable status: if the first replica died before queueing
the update's work, the mark expires and a later redelivery handles it — nothing is lost.
"""

from __future__ import annotations

from enum import StrEnum

import redis.asyncio as aioredis

from bot.storage.keys import Namespace, SeenUpdateKey

SEEN_TTL_S = 24 * 3600
# Longer than handling an update takes (handlers only queue work), shorter than Telegram's patience.
PROCESSING_TTL_S = 10


class Delivery(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class RedisUpdateLog:
    def __init__(self, redis: aioredis.Redis, ns: Namespace) -> None:
        self._redis = redis
        self._ns = ns

    def _key(self, update_id: int) -> str:
        return str(SeenUpdateKey(self._ns, update_id))

    async def begin(self, update_id: int) -> Delivery:
        """NEW exactly once per update id across all replicas (until a `forget`)."""
        key = self._key(update_id)
        if await self._redis.set(key, b"processing", nx=True, ex=PROCESSING_TTL_S):
            return Delivery.NEW
        state = await self._redis.get(key)
        if state is None:  # expired between the two calls
            return await self.begin(update_id)
        return Delivery.DONE if state == b"done" else Delivery.IN_PROGRESS

    async def done(self, update_id: int) -> None:
        await self._redis.set(self._key(update_id), b"done", ex=SEEN_TTL_S)

    async def forget(self, update_id: int) -> None:
        """The update could not be handled: let a redelivery through."""
        await self._redis.delete(self._key(update_id))
