"""Operations on all of one chat's keys at once: moving them when a group becomes a supergroup, and
bounding their lifetime after the bot was removed from the chat."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from bot.storage.keys import KnowledgeActivityKey, Namespace, chat_key_pattern
from bot.storage.redis_typing import awaited, text_of

log = logging.getLogger(__name__)


class RedisChatKeys:
    def __init__(self, redis: aioredis.Redis, ns: Namespace) -> None:
        self._redis = redis
        self._ns = ns

    async def _keys_of(self, chat_id: int) -> list[str]:
        marker = f":{chat_id}:t"
        found: list[str] = []
        async for raw in self._redis.scan_iter(match=chat_key_pattern(self._ns, chat_id), count=500):
            name = text_of(raw)
            if marker in name:
                found.append(name)
        return found

    async def move(self, old_chat_id: int, new_chat_id: int) -> int:
        """Rename every key of the old chat to the new id (conversation, transcript, documents, …)."""
        moved = 0
        old_marker, new_marker = f":{old_chat_id}:t", f":{new_chat_id}:t"
        activity = str(KnowledgeActivityKey(self._ns))
        for name in await self._keys_of(old_chat_id):
            target = name.replace(old_marker, new_marker, 1)
            # Overwrite: keys written under the old id after the move (by an answer that was already
            # running) are newer than what the first move carried over.
            await self._redis.rename(name, target)
            moved += 1
        for raw in await awaited(self._redis.zrange(activity, 0, -1, withscores=True)):
            member, score = raw
            path = text_of(member)
            if path.startswith(f"{old_chat_id}:t"):
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.zrem(activity, path)
                    pipe.zadd(activity, {f"{new_chat_id}{path[len(str(old_chat_id)) :]}": score})
                    await pipe.execute()
        log.info("moved %d keys of a migrated group", moved)
        return moved

    async def expire_within(self, chat_id: int, seconds: int) -> int:
        """Make every key of the chat expire within `seconds` (keys already expiring sooner keep their TTL)."""
        touched = 0
        for name in await self._keys_of(chat_id):
            ttl = await self._redis.ttl(name)
            if ttl < 0 or ttl > seconds:
                await self._redis.expire(name, seconds)
                touched += 1
        return touched
