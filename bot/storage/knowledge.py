"""Redis implementation of KnowledgeBaseStore: each chat's documents and index id, plus index activity.

The record expires `ttl_seconds` after the last change or use; the activity sorted set lets the
service find the chat whose index has been idle longest when the provider's quota is exhausted.

An activity entry never outlives its chat's record: its score is the record's last change or use
(so entries older than `ttl_seconds` are pruned — their records have expired), a removed group's
entries are re-scored to leave when its state does, and an entry found without a record or an index
is dropped when reclaiming looks at it.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from pydantic import BaseModel

from bot.core.documents import DocumentRecord, DocumentStatus, KnowledgeBase
from bot.core.models import ConversationKey
from bot.storage.keys import KnowledgeActivityKey, KnowledgeBaseKey, Namespace
from bot.storage.redis_typing import awaited, text_of

RECLAIM_PAGE = 20


class _Document(BaseModel):
    doc_id: str
    file_ref: str
    file_name: str
    mime_type: str
    size: int
    status: DocumentStatus
    added_at: float
    uploaded_by: int | None = None
    provider_file_id: str | None = None
    error: str | None = None


class _KnowledgeBase(BaseModel):
    index_id: str | None = None
    documents: list[_Document] = []


class RedisKnowledgeBaseStore:
    def __init__(self, redis: aioredis.Redis, ns: Namespace, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._ns = ns
        self._ttl = ttl_seconds

    async def load(self, key: ConversationKey) -> KnowledgeBase:
        raw = await self._redis.get(str(KnowledgeBaseKey(self._ns, key)))
        if raw is None:
            return KnowledgeBase()
        model = _KnowledgeBase.model_validate_json(raw)
        return KnowledgeBase(
            index_id=model.index_id,
            documents=tuple(DocumentRecord(**d.model_dump()) for d in model.documents),
        )

    async def save(self, key: ConversationKey, base: KnowledgeBase) -> None:
        model = _KnowledgeBase(
            index_id=base.index_id,
            documents=[_Document.model_validate(d, from_attributes=True) for d in base.documents],
        )
        activity = str(KnowledgeActivityKey(self._ns))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(str(KnowledgeBaseKey(self._ns, key)), model.model_dump_json(), ex=self._ttl)
            if base.index_id is None:
                pipe.zrem(activity, key.as_path())
            else:  # the record's lifetime starts again: so does its entry's (if it has one)
                pipe.zadd(activity, {key.as_path(): time.time()}, xx=True)
            await pipe.execute()

    async def delete(self, key: ConversationKey) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(str(KnowledgeBaseKey(self._ns, key)))
            pipe.zrem(str(KnowledgeActivityKey(self._ns)), key.as_path())
            await pipe.execute()

    async def touch(self, key: ConversationKey) -> None:
        now = time.time()
        activity = str(KnowledgeActivityKey(self._ns))
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(activity, {key.as_path(): now})
            pipe.expire(str(KnowledgeBaseKey(self._ns, key)), self._ttl)
            pipe.zremrangebyscore(activity, "-inf", now - self._ttl)  # their records have expired
            await pipe.execute()

    async def idlest_with_index(self, exclude: ConversationKey) -> ConversationKey | None:
        """The chat idle longest whose record still names an index; entries found without one (the
        chat's state expired, or its index is gone) leave the set on the way."""
        activity = str(KnowledgeActivityKey(self._ns))
        while True:
            candidates: list[bytes] = await awaited(self._redis.zrange(activity, 0, RECLAIM_PAGE - 1))
            stale: list[str] = []
            for raw in candidates:
                path = text_of(raw)
                if path == exclude.as_path():
                    continue
                key = ConversationKey.from_path(path)
                if (await self.load(key)).index_id is not None:
                    if stale:
                        await self._redis.zrem(activity, *stale)
                    return key
                stale.append(path)
            if stale:
                await self._redis.zrem(activity, *stale)
            if len(candidates) < RECLAIM_PAGE or not stale:
                return None

    async def move_chat_activity(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup: its entries follow it (the records move with the chat's keys)."""
        activity = str(KnowledgeActivityKey(self._ns))
        for member, score in await awaited(self._redis.zrange(activity, 0, -1, withscores=True)):
            path = text_of(member)
            if path.startswith(f"{old_chat_id}:t"):
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.zrem(activity, path)
                    pipe.zadd(activity, {f"{new_chat_id}{path[len(str(old_chat_id)) :]}": score})
                    await pipe.execute()

    async def expire_chat_activity(self, chat_id: int, within_seconds: int) -> None:
        """The chat's state now expires within `within_seconds` (the bot left the group): its entries
        are scored as if last used `ttl_seconds` before that moment, so they are pruned when the state
        goes — and, being the idlest, the group's index is the first one reclaimed meanwhile."""
        activity = str(KnowledgeActivityKey(self._ns))
        leaves_at = time.time() + within_seconds - self._ttl
        for member, score in await awaited(self._redis.zrange(activity, 0, -1, withscores=True)):
            path = text_of(member)
            if path.startswith(f"{chat_id}:t") and score > leaves_at:
                await self._redis.zadd(activity, {path: leaves_at}, xx=True)
