"""Running the bot: long polling (the default) or webhook mode, with a graceful stop."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from aiogram.exceptions import TelegramUnauthorizedError
from aiohttp import web

from bot.settings import Settings
from bot.storage.heartbeat import beat_forever
from bot.storage.keys import Namespace
from bot.storage.updates import RedisUpdateLog
from bot.telegram.dispatcher import register_commands
from bot.web import add_operational_routes
from bot.webhook import WebhookIntake
from bot.wiring import Runtime, StartupError, build_runtime
from bot.yandex.client import warm_up

log = logging.getLogger(__name__)


class BotApp:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._stopping = asyncio.Event()
        self.serving = asyncio.Event()
        """Set once the bot accepts updates (webhook listening and registered, or polling started)."""
        self._intake: WebhookIntake | None = None

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
        warm_up(runtime.openai)
        # Everything built so far lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise stall every chat for hundreds of ms under load.
        gc.collect()
        gc.freeze()
        return cls(runtime)

    async def run_polling(self, *, handle_signals: bool = True) -> None:
        """Poll until stopped (SIGINT/SIGTERM or `stop()`), then finish answers and close clients."""
        dispatcher = self.runtime.dispatcher
        heartbeat = asyncio.create_task(
            beat_forever(self.runtime.redis, Namespace(self.runtime.settings.bot_id)), name="heartbeat"
        )
        web_runner = await self._start_operational_server()
        self.runtime.start_background()
        self.serving.set()
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

    async def run_webhook(self, *, handle_signals: bool = True) -> None:
        """Serve webhook deliveries until SIGTERM/SIGINT (or `stop()`), then drain and exit cleanly."""
        settings = self.runtime.settings
        assert settings.webhook_url is not None and settings.webhook_secret is not None  # validated
        secret = settings.webhook_secret.get_secret_value()
        ns = Namespace(settings.bot_id)
        self._intake = WebhookIntake(
            self.runtime.bot, self.runtime.dispatcher, RedisUpdateLog(self.runtime.redis, ns), secret
        )
        app = web.Application()
        app.router.add_post(settings.webhook_path, self._intake.handle)
        add_operational_routes(app, self.runtime.metrics, self.runtime.redis, self.runtime.openai)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        heartbeat = asyncio.create_task(beat_forever(self.runtime.redis, ns), name="heartbeat")
        try:
            await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
            # Idempotent, so every replica may call it; never deleted on shutdown (others keep serving).
            await self.runtime.bot.set_webhook(
                settings.webhook_url,
                secret_token=secret,
                allowed_updates=self.runtime.dispatcher.resolve_used_update_types(),
                drop_pending_updates=False,
            )
            self.runtime.start_background()
            self.serving.set()
            log.info(
                "webhook mode: listening on %s:%s%s",
                settings.webhook_host,
                settings.webhook_port,
                settings.webhook_path,
            )
            if handle_signals:
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(signum, self._stopping.set)
            await self._stopping.wait()
            log.info("shutting down: refusing new deliveries, finishing answers")
            self._intake.accepting = False
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            await self.runtime.close()
            await runner.cleanup()
            log.info("stopped")

    async def stop(self) -> None:
        if self.runtime.settings.bot_mode == "webhook":
            self._stopping.set()
        else:
            await self.runtime.dispatcher.stop_polling()
