"""Stopping an answer that streams on another replica.

The Stop button's update may reach any replica, while the answer runs on the one holding its lane.
Running answers are listed in Redis (with their asker, for the permission check), and a stop request
is published on a channel every replica listens to.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import redis.asyncio as aioredis

from bot.storage.keys import Namespace, RunningAnswerKey, StopChannel
from bot.storage.redis_typing import awaited, text_of

log = logging.getLogger(__name__)

RUNNING_TTL_S = 3 * 3600
NO_ASKER = b"-"


class RedisAnswerDirectory:
    def __init__(self, redis: aioredis.Redis, ns: Namespace) -> None:
        self._redis = redis
        self._ns = ns

    async def started(self, chat_id: int, answer_id: int, asker_id: int | None) -> None:
        value = str(asker_id).encode() if asker_id is not None else NO_ASKER
        await self._redis.set(str(RunningAnswerKey(self._ns, chat_id, answer_id)), value, ex=RUNNING_TTL_S)

    async def ended(self, chat_id: int, answer_id: int) -> None:
        await self._redis.delete(str(RunningAnswerKey(self._ns, chat_id, answer_id)))

    async def lookup(self, chat_id: int, answer_id: int) -> tuple[bool, int | None]:
        """(whether the answer is running on some replica, its asker)."""
        value = await self._redis.get(str(RunningAnswerKey(self._ns, chat_id, answer_id)))
        if value is None:
            return False, None
        return True, (None if value == NO_ASKER else int(value))

    async def request_stop(self, chat_id: int, answer_id: int) -> None:
        await awaited(self._redis.publish(str(StopChannel(self._ns)), f"{chat_id}/{answer_id}"))

    async def listen(self, on_stop: Callable[[int, int], object]) -> None:
        """Deliver every stop request to `on_stop(chat_id, answer_id)`, reconnecting after failures."""
        delay = 0.5
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(str(StopChannel(self._ns)))
                    delay = 0.5
                    async for message in pubsub.listen():
                        raw = message.get("data")
                        text = text_of(raw)
                        chat, _, answer = text.partition("/")
                        try:
                            on_stop(int(chat), int(answer))
                        except ValueError:
                            log.warning("malformed stop request ignored")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("stop listener: %s; reconnecting in %.1fs", type(error).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
