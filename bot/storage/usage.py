"""Redis ledger of tokens used per user and per chat per UTC day (the UsageLedger port)."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.core.usage import UsageToday
from bot.storage.keys import Namespace, UsageKey

USAGE_TTL_S = 3 * 86400


class RedisUsageLedger:
    def __init__(self, redis: aioredis.Redis, ns: Namespace) -> None:
        self._redis = redis
        self._ns = ns

    def _keys(self, user_id: int | None, chat_id: int, day: str) -> tuple[str | None, str]:
        user_key = str(UsageKey(self._ns, "user", user_id, day)) if user_id is not None else None
        return user_key, str(UsageKey(self._ns, "chat", chat_id, day))

    async def today(self, user_id: int | None, chat_id: int, day: str) -> UsageToday:
        user_key, chat_key = self._keys(user_id, chat_id, day)
        names = [chat_key] if user_key is None else [user_key, chat_key]
        values = await self._redis.mget(names)
        numbers = [int(v) if v is not None else 0 for v in values]
        if user_key is None:
            return UsageToday(user_used=0, chat_used=numbers[0])
        return UsageToday(user_used=numbers[0], chat_used=numbers[1])

    async def add(self, user_id: int | None, chat_id: int, day: str, tokens: int) -> None:
        user_key, chat_key = self._keys(user_id, chat_id, day)
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in (user_key, chat_key):
                if name is not None:
                    pipe.incrby(name, tokens)
                    pipe.expire(name, USAGE_TTL_S)
            await pipe.execute()
