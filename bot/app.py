"""Running the bot: long polling (the default)."""

from __future__ import annotations

import asyncio
import logging

from aiogram.exceptions import TelegramUnauthorizedError
from aiohttp import web

from bot.settings import Settings
from bot.storage.heartbeat import beat_forever
from bot.storage.keys import Namespace
from bot.telegram.dispatcher import register_commands
from bot.web import add_operational_routes
from bot.wiring import Runtime, StartupError, build_runtime

log = logging.getLogger(__name__)


class BotApp:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @classmethod
    async def create(cls, settings: Settings, **kwargs: object) -> BotApp:
        runtime = await build_runtime(settings, **kwargs)  # type: ignore[arg-type]
        try:
            me = await runtime.bot.me()  # also warms aiogram's cache used by command filters
        except TelegramUnauthorizedError:
            await runtime.close()
            raise StartupError("Telegram rejected BOT_TOKEN (401 Unauthorized)") from None
        log.info("starting as @%s", me.username)
        await register_commands(runtime.bot)
        return cls(runtime)

    async def run_polling(self, *, handle_signals: bool = True) -> None:
        """Poll until stopped (SIGINT/SIGTERM or `stop()`), then finish answers and close clients."""
        dispatcher = self.runtime.dispatcher
        heartbeat = asyncio.create_task(
            beat_forever(self.runtime.redis, Namespace(self.runtime.settings.bot_id)), name="heartbeat"
        )
        web_runner = await self._start_operational_server()
        try:
            await dispatcher.start_polling(
                self.runtime.bot,
                handle_signals=handle_signals,
                close_bot_session=False,
                allowed_updates=dispatcher.resolve_used_update_types(),
            )
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            if web_runner is not None:
                await web_runner.cleanup()
            await self.runtime.close()

    async def _start_operational_server(self) -> web.AppRunner | None:
        """/metrics and /healthz on METRICS_HOST:METRICS_PORT (0 disables them)."""
        settings = self.runtime.settings
        if settings.metrics_port == 0:
            return None
        app = web.Application()
        add_operational_routes(app, self.runtime.metrics, self.runtime.redis, self.runtime.openai)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.metrics_host, settings.metrics_port).start()
        log.info("metrics on http://%s:%s/metrics", settings.metrics_host, settings.metrics_port)
        return runner

    async def stop(self) -> None:
        await self.runtime.dispatcher.stop_polling()
