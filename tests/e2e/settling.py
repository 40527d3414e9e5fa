"""Waiting until the bot has nothing left to do, instead of sleeping a fixed time before checking that
"nothing more happened": the fakes report what is still pending, the bot which lanes are busy."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from bot.app import BotApp
from bot.storage.keys import ActiveLanesKey, LaneLockKey, Namespace
from bot.storage.redis_typing import awaited
from tests.e2e.harness import Stack


def bot_is_idle(stack: Stack, app: BotApp) -> bool:
    """Every update taken by the bot (polling: confirmed; webhook: delivered), no lane with a job
    running or queued in this process, and no response streaming at the emulator."""
    return app.runtime.lanes.active_lanes == 0 and bot_is_idle_outside(stack)


async def until_idle(stack: Stack, app: BotApp, timeout: float = 20.0) -> None:
    await stack.telegram.wait_for(lambda: bot_is_idle(stack, app), timeout=timeout)


async def until_replicas_idle(stack: Stack, timeout: float = 30.0) -> None:
    """The same for bots in other processes, read from the outside: no pending update, nothing
    streaming, and in Redis no lane holding jobs and no lane locked by any replica."""
    ns = Namespace(int(stack.telegram.token.split(":")[0]))
    redis: aioredis.Redis = aioredis.Redis.from_url(stack.redis_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            lanes = await awaited(redis.scard(str(ActiveLanesKey(ns))))
            locks = await redis.keys(str(LaneLockKey(ns, "*")))
            if lanes == 0 and not locks and bot_is_idle_outside(stack):
                return
            if time.monotonic() >= deadline:
                raise AssertionError(f"replicas not idle within {timeout} s: {lanes} lanes, locks {locks}")
            await asyncio.sleep(0.05)
    finally:
        await redis.aclose()


def bot_is_idle_outside(stack: Stack) -> bool:
    return not stack.telegram.pending_updates() and all(
        r["status"] != "in_progress" for r in stack.yandex.responses(limit=200)
    )
