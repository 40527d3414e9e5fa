"""The bot's HTTP side: /metrics (Prometheus) and /healthz, served in polling and webhook mode."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from openai import AsyncOpenAI
from redis.asyncio import Redis

from bot.metrics import CONTENT_TYPE, Metrics
from bot.storage.redis_typing import awaited

log = logging.getLogger(__name__)


def add_operational_routes(
    app: web.Application,
    metrics: Metrics,
    redis: Redis,
    openai: AsyncOpenAI,
    receiving_problem: Callable[[], str | None] = lambda: None,
) -> None:
    async def metrics_handler(_: web.Request) -> web.Response:
        body = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def health_handler(_: web.Request) -> web.Response:
        problems: dict[str, str] = {}
        if (telegram := receiving_problem()) is not None:
            problems["telegram"] = telegram
        try:
            await awaited(redis.ping())
        except Exception as error:
            problems["redis"] = type(error).__name__
        try:
            await openai.models.list(timeout=5)
        except Exception as error:
            problems["provider"] = type(error).__name__
        if problems:
            return web.json_response({"status": "unhealthy", "problems": problems}, status=503)
        return web.json_response({"status": "ok"})

    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", health_handler)
