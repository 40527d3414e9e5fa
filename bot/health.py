"""`python -m bot.health`: exit 0 if Redis answers and a bot process has beaten recently while receiving
updates (container checks). One line on stderr otherwise: exit 1 unhealthy, 2 bad settings."""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis

from bot.settings import SettingsError, load_settings
from bot.storage.heartbeat import STALE_AFTER_S, last_beat
from bot.storage.keys import Namespace


async def _check(redis_url: str, ns: Namespace) -> str | None:
    redis: aioredis.Redis = aioredis.Redis.from_url(redis_url, socket_connect_timeout=3)
    try:
        beat = await last_beat(redis, ns)
    except (OSError, aioredis.RedisError) as error:
        return f"Redis unreachable ({type(error).__name__})"
    finally:
        await redis.aclose()
    if beat is None or beat.age > STALE_AFTER_S:
        return "no recent heartbeat from the bot"
    return beat.problem


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        sys.stderr.write(f"unhealthy: {error}\n")
        return 2
    problem = asyncio.run(_check(settings.redis_url, Namespace(settings.bot_id)))
    if problem:
        sys.stderr.write(f"unhealthy: {problem}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
