"""Redis ledger of tokens used per user and per chat per UTC day (the UsageLedger port)."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.core.usage import UsageToday
from bot.storage.keys import Namespace, UsageApproximateKey, UsageKey

USAGE_TTL_S = 3 * 86400


class RedisUsageLedger:
    def __init__(self, redis: aioredis.Redis, ns: Namespace) -> None:
        self._redis = redis
        self._ns = ns

    def _keys(self, user_id: int | None, chat_id: int, day: str) -> list[tuple[str, str]]:
        """(counter, approximate marker) of the chat, then of the user when there is one."""
        scopes = [("chat", chat_id)] + ([("user", user_id)] if user_id is not None else [])
        return [
            (
                str(UsageKey(self._ns, scope, owner, day)),
                str(UsageApproximateKey(self._ns, scope, owner, day)),
            )
            for scope, owner in scopes
        ]

    async def today(self, user_id: int | None, chat_id: int, day: str) -> UsageToday:
        keys = self._keys(user_id, chat_id, day)
        values = await self._redis.mget([name for pair in keys for name in pair])
        chat_used, chat_approximate = int(values[0] or 0), values[1] is not None
        if user_id is None:
            return UsageToday(user_used=0, chat_used=chat_used, chat_approximate=chat_approximate)
        return UsageToday(
            user_used=int(values[2] or 0),
            chat_used=chat_used,
            user_approximate=values[3] is not None,
            chat_approximate=chat_approximate,
        )

    async def add(
        self, user_id: int | None, chat_id: int, day: str, tokens: int, *, approximate: bool
    ) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for counter, marker in self._keys(user_id, chat_id, day):
                pipe.incrby(counter, tokens)
                pipe.expire(counter, USAGE_TTL_S)
                if approximate:
                    pipe.set(marker, 1, ex=USAGE_TTL_S)
            await pipe.execute()
