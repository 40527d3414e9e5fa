"""Redis implementation of KnowledgeBaseStore: each chat's documents and index id, plus index activity.

The record expires `ttl_seconds` after the last change or use; the activity sorted set lets the
service find the chat whose index has been idle longest when the provider's quota is exhausted.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from pydantic import BaseModel

from bot.core.documents import DocumentRecord, DocumentStatus, KnowledgeBase
from bot.core.models import ConversationKey
from bot.storage.keys import KnowledgeActivityKey, KnowledgeBaseKey, Namespace
from bot.storage.redis_typing import awaited


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
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(str(KnowledgeBaseKey(self._ns, key)), model.model_dump_json(), ex=self._ttl)
            if base.index_id is None:
                pipe.zrem(str(KnowledgeActivityKey(self._ns)), key.as_path())
            await pipe.execute()

    async def delete(self, key: ConversationKey) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(str(KnowledgeBaseKey(self._ns, key)))
            pipe.zrem(str(KnowledgeActivityKey(self._ns)), key.as_path())
            await pipe.execute()

    async def touch(self, key: ConversationKey) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(str(KnowledgeActivityKey(self._ns)), {key.as_path(): time.time()})
            pipe.expire(str(KnowledgeBaseKey(self._ns, key)), self._ttl)
            await pipe.execute()

    async def idlest_with_index(self, exclude: ConversationKey) -> ConversationKey | None:
        candidates: list[bytes] = await awaited(self._redis.zrange(str(KnowledgeActivityKey(self._ns)), 0, 5))
        for raw in candidates:
            path = raw.decode()
            if path != exclude.as_path():
                return ConversationKey.from_path(path)
        return None
