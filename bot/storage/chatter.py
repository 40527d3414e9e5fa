"""Recent group messages that were not addressed to the bot, kept briefly as optional context."""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from pydantic import BaseModel

from bot.core.models import ConversationKey, Turn
from bot.storage.keys import ChatterKey, Namespace

CHATTER_TTL_S = 24 * 3600


class _Line(BaseModel):
    author: str | None
    text: str
    at: float


class RedisChatter:
    def __init__(self, redis: aioredis.Redis, ns: Namespace, *, keep: int) -> None:
        self._redis = redis
        self._ns = ns
        self._keep = keep

    @property
    def enabled(self) -> bool:
        return self._keep > 0

    async def remember(self, key: ConversationKey, author: str | None, text: str) -> None:
        name = str(ChatterKey(self._ns, key))
        line = _Line(author=author, text=text[:2000], at=time.time()).model_dump_json()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.rpush(name, line)
            pipe.ltrim(name, -self._keep, -1)
            pipe.expire(name, CHATTER_TTL_S)
            await pipe.execute()

    async def take(self, key: ConversationKey) -> list[Turn]:
        """The remembered lines, oldest first; they are handed over once."""
        name = str(ChatterKey(self._ns, key))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrange(name, 0, -1)
            pipe.delete(name)
            raw, _ = await pipe.execute()
        lines = [_Line.model_validate_json(item) for item in raw]
        return [Turn(role="user", text=line.text, at=line.at, author=line.author) for line in lines]
