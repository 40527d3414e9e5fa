"""Index activity in a real Redis: entries leave with their chat's state, reclaiming skips entries
whose record or index is gone."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from bot.core.documents import KnowledgeBase
from bot.core.models import ConversationKey
from bot.storage.keys import KnowledgeActivityKey, Namespace
from bot.storage.knowledge import RedisKnowledgeBaseStore

NS = Namespace(bot_id=4242)
TTL = 1000
GROUP = ConversationKey(chat_id=-1001)
ALICE = ConversationKey(chat_id=11)
BOB = ConversationKey(chat_id=12)


async def scores(redis: aioredis.Redis) -> dict[str, float]:
    rows = await redis.zrange(str(KnowledgeActivityKey(NS)), 0, -1, withscores=True)
    return {member.decode(): score for member, score in rows}


async def with_index(store: RedisKnowledgeBaseStore, key: ConversationKey, index_id: str) -> None:
    await store.save(key, KnowledgeBase(index_id=index_id))
    await store.touch(key)


async def test_reclaiming_skips_and_drops_entries_without_a_record_or_an_index(
    redis_client: aioredis.Redis,
) -> None:
    store = RedisKnowledgeBaseStore(redis_client, NS, ttl_seconds=TTL)
    await with_index(store, GROUP, "vs-group")
    await with_index(store, ALICE, "vs-alice")
    await with_index(store, BOB, "vs-bob")
    await redis_client.delete(f"{NS.prefix}:kb:{GROUP.as_path()}")  # the group's state expired
    await store.save(ALICE, KnowledgeBase())  # Alice's index was reclaimed: her entry left with it
    assert await store.idlest_with_index(exclude=ConversationKey(chat_id=99)) == BOB
    assert list(await scores(redis_client)) == [BOB.as_path()]
    assert await store.idlest_with_index(exclude=BOB) is None


async def test_a_removed_groups_entry_leaves_when_its_state_does(redis_client: aioredis.Redis) -> None:
    store = RedisKnowledgeBaseStore(redis_client, NS, ttl_seconds=TTL)
    await with_index(store, GROUP, "vs-group")
    await with_index(store, ALICE, "vs-alice")
    await store.expire_chat_activity(GROUP.chat_id, within_seconds=100)
    group_score = (await scores(redis_client))[GROUP.as_path()]
    assert abs(group_score - (time.time() + 100 - TTL)) < 5
    assert await store.idlest_with_index(exclude=ALICE) == GROUP, "its index is reclaimed first meanwhile"
    await redis_client.zadd(str(KnowledgeActivityKey(NS)), {GROUP.as_path(): time.time() - TTL - 1})
    await store.touch(ALICE)  # any later use prunes entries whose records must have expired
    assert list(await scores(redis_client)) == [ALICE.as_path()]
