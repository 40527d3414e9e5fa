"""Operations on all of one chat's keys at once: moving them when a group becomes a supergroup, and
bounding their lifetime after the bot was removed from the chat."""

from __future__ import annotations

import logging
from typing import Protocol

import redis.asyncio as aioredis

from bot.storage.keys import Namespace, chat_key_pattern
from bot.storage.redis_typing import text_of

log = logging.getLogger(__name__)


class ChatWideEntries(Protocol):
    """Entries about a chat kept outside its own keys, by their owner (storage.knowledge's index
    activity): they move and expire with the chat."""

    async def move_chat_activity(self, old_chat_id: int, new_chat_id: int) -> None: ...

    async def expire_chat_activity(self, chat_id: int, within_seconds: int) -> None: ...


class RedisChatKeys:
    def __init__(self, redis: aioredis.Redis, ns: Namespace, entries: ChatWideEntries) -> None:
        self._redis = redis
        self._ns = ns
        self._entries = entries

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
        for name in await self._keys_of(old_chat_id):
            target = name.replace(old_marker, new_marker, 1)
            # Overwrite: keys written under the old id after the move (by an answer that was already
            # running) are newer than what the first move carried over.
            await self._redis.rename(name, target)
            moved += 1
        await self._entries.move_chat_activity(old_chat_id, new_chat_id)
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
        await self._entries.expire_chat_activity(chat_id, seconds)
        return touched
