"""A throwaway redis-server process the test can stop and start again, to cut the bot off Redis."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.storage.redis_typing import awaited


@dataclass
class RedisServer:
    port: int
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.process = await asyncio.create_subprocess_exec(
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        client: aioredis.Redis = aioredis.Redis.from_url(self.url)
        try:
            for _ in range(100):
                try:
                    await awaited(client.ping())
                    return
                except (OSError, aioredis.ConnectionError):
                    await asyncio.sleep(0.05)
            raise TimeoutError("redis-server did not start")
        finally:
            await client.aclose()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
