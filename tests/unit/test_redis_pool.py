"""The bot's Redis pool skips redis-py's waiting check for a clean idle connection, and only then
(bot.storage.pool.ReadyConnectionPool): leftover data and a connection the server closed still get the
full check, which replaces the connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection

from bot.storage.pool import ReadyConnectionPool
from tests.support.waiting import wait_until

KEY = "pool-test:key"


@pytest.fixture
async def pooled(redis_client: aioredis.Redis, redis_url: str) -> AsyncIterator[tuple[aioredis.Redis, Any]]:
    """A client on a one-connection ReadyConnectionPool, the key set, and that connection watched:
    `checks` counts the full checks (redis-py's `can_read_destructive`) it gets."""
    pool = ReadyConnectionPool.from_url(redis_url, max_connections=1, timeout=None)
    client = aioredis.Redis.from_pool(pool)
    await client.set(KEY, "1")
    connection = await cast(Any, pool).get_connection()  # redis-py leaves it unannotated
    await pool.release(connection)
    assert isinstance(connection, Connection)
    checks: list[bool] = []
    full_check: Any = connection.can_read_destructive

    async def counted() -> bool:
        found = bool(await full_check())
        checks.append(found)
        return found

    connection.can_read_destructive = counted  # type: ignore[method-assign]
    try:
        yield client, (connection, checks)
    finally:
        await client.aclose()


async def test_a_clean_idle_connection_is_used_without_the_waiting_check(
    pooled: tuple[aioredis.Redis, Any],
) -> None:
    client, (_, checks) = pooled
    for _ in range(3):
        assert await client.get(KEY) == b"1"
    assert checks == []


async def test_leftover_data_gets_the_full_check_and_a_fresh_connection(
    pooled: tuple[aioredis.Redis, Any],
) -> None:
    client, (connection, checks) = pooled
    connection._reader.feed_data(b"+stray reply\r\n")  # as if a reply had been left unread
    assert await client.get(KEY) == b"1"  # not the stray reply: the connection was replaced
    assert checks == [True, False]  # data found, so reconnected; the new connection checked clean


async def test_a_connection_the_server_closed_gets_the_full_check(
    pooled: tuple[aioredis.Redis, Any], redis_client: aioredis.Redis
) -> None:
    client, (connection, checks) = pooled
    client_id = await client.client_id()
    await redis_client.client_kill_filter(_id=client_id)
    await wait_until(lambda: connection._reader.at_eof(), what="the server's end of the connection")
    assert await client.get(KEY) == b"1"
    # The full check found the end (it raised, so it is not counted), reconnected and checked again.
    assert checks == [False]
