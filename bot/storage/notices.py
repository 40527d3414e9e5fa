"""Remembers which member of a chat was told what recently, so a notice goes out at most once per
interval however often its cause repeats (shared by replicas)."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.storage.keys import Namespace, NoticeSentKey


class RedisNoticeLog:
    def __init__(self, redis: aioredis.Redis, ns: Namespace) -> None:
        self._redis = redis
        self._ns = ns

    async def first_within(self, kind: str, chat_id: int, member: str, seconds: int) -> bool:
        """True for the first notice of `kind` to `member` in `chat_id` within `seconds` (SET NX EX)."""
        created = await self._redis.set(
            str(NoticeSentKey(self._ns, kind, chat_id, member)), b"1", nx=True, ex=seconds
        )
        return bool(created)
