"""Running the bot: long polling (the default) or webhook mode, with a graceful stop.

Start-up checks come first (`bot.preflight`): Redis, Telegram, the Yandex credentials and the model.
Each failure is one `StartupError` line; nothing is logged before all of them passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import Awaitable
from typing import TypeVar
from urllib.parse import urlsplit

from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiohttp import web

from bot.errors import StartupError
from bot.preflight import require_models, telegram_identity, yandex_models
from bot.settings import Settings
from bot.storage.heartbeat import beat_forever
from bot.storage.keys import Namespace
from bot.storage.updates import RedisUpdateLog
from bot.telegram.dispatcher import register_commands
from bot.web import add_operational_routes
from bot.webhook import WebhookIntake
from bot.wiring import Runtime, build_runtime, telegram_server
from bot.yandex.client import warm_up

log = logging.getLogger(__name__)
T = TypeVar("T")

WEBHOOK_CHECK_INTERVAL_S = 60.0
CONFLICT_ADVICE = {
    "terminated by other getUpdates request": (
        "another process is polling Telegram with this BOT_TOKEN (409 Conflict), so this one stops: run "
        "one polling process, or BOT_MODE=webhook for several replicas"
    ),
    "webhook is active": (
        "a webhook was set for this bot while it was polling (409 Conflict), so this one stops: another "
        "deployment serves it in webhook mode; stop one of the two"
    ),
}


class ReceivingConflict(StartupError):
    """Someone else receives this bot's updates; polling cannot go on."""


class BotApp:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._stopping = asyncio.Event()
        self.serving = asyncio.Event()
        """Set once the bot accepts updates (webhook listening and registered, or polling started)."""
        self._intake: WebhookIntake | None = None
        self._identity = ""
        """Logged once serving: nothing is logged before every start-up step passed."""

    @classmethod
    async def create(cls, settings: Settings) -> BotApp:
        runtime = await build_runtime(settings)
        try:
            me = await telegram_identity(runtime.bot, telegram_server(settings))  # also warms aiogram's cache
            await _telegram_call(register_commands(runtime.bot), settings, "setMyCommands")
            # Blocking work before the first IAM token, whose renewal needs a free event loop.
            warm_up(runtime.openai)
            # Everything built so far lives as long as the process: keep it out of the garbage
            # collector's full passes, which otherwise stall every chat for hundreds of ms under load.
            gc.collect()
            gc.freeze()
            available = await yandex_models(runtime.openai, runtime.credentials, settings.yc_base_url)
            runtime.credentials.start()  # renew IAM tokens from now on
            # Every model a chat may choose must exist, not only the default one.
            require_models(
                available, settings.allowed_model_uris, "YC_MODELS" if settings.yc_models else "YC_MODEL"
            )
        except BaseException:
            await runtime.close()
            raise
        app = cls(runtime)
        operational = (
            "off"
            if settings.metrics_port == 0
            else "on the webhook port"
            if settings.bot_mode == "webhook" and settings.metrics_port == settings.webhook_port
            else f"on http://{settings.metrics_host}:{settings.metrics_port}"
        )
        app._identity = (
            f"@{me.username}; Yandex: {runtime.credentials.description}, model {settings.yc_model_uri}, "
            f"request logging at Yandex {'on' if settings.yc_data_logging else 'off'}; /metrics and "
            f"/healthz {operational}"
        )
        return app

    async def run_polling(self, *, handle_signals: bool = True) -> None:
        """Poll until stopped (SIGINT/SIGTERM or `stop()`), then finish answers and close clients.
        Raises ReceivingConflict when another process takes over this bot's updates."""
        runtime, settings = self.runtime, self.runtime.settings
        dispatcher = runtime.dispatcher
        web_runner: web.AppRunner | None = None
        try:
            web_runner = await self._start_operational_server()
            await self._remove_leftover_webhook()
        except BaseException:
            if web_runner is not None:
                await web_runner.cleanup()
            await runtime.close()
            raise
        heartbeat = asyncio.create_task(
            beat_forever(runtime.redis, Namespace(settings.bot_id), runtime.receipt.problem), name="heartbeat"
        )
        runtime.receipt.received()
        runtime.start_background()
        polling = asyncio.create_task(
            dispatcher.start_polling(
                runtime.bot,
                handle_signals=handle_signals,
                close_bot_session=False,
                allowed_updates=dispatcher.resolve_used_update_types(),
            ),
            name="polling",
        )
        conflict = asyncio.create_task(runtime.receipt.conflict.wait(), name="polling-conflict")
        self.serving.set()
        self._announce("polling")
        try:
            await asyncio.wait({polling, conflict}, return_when=asyncio.FIRST_COMPLETED)
            if conflict.done() and not polling.done():
                reason = _conflict_advice(runtime.receipt.conflict_reason)
                log.error("%s", reason)
                await dispatcher.stop_polling()
            await polling
            if conflict.done():
                raise ReceivingConflict(_conflict_advice(runtime.receipt.conflict_reason))
        finally:
            for task in (conflict, heartbeat):
                task.cancel()
            await asyncio.gather(conflict, heartbeat, return_exceptions=True)
            if web_runner is not None:
                await web_runner.cleanup()
            await runtime.close()

    def _announce(self, mode: str) -> None:
        """The first log lines, once serving (a start that fails prints its one error line only)."""
        log.info("serving as %s; %s", self._identity, mode)
        if self.runtime.settings.yc_auth == "iam_token":
            log.warning(
                "YC_IAM_TOKEN is a static IAM token: it expires within 12 hours and nothing renews it, "
                "so answers will fail after that; use YC_API_KEY or YC_SA_KEY_FILE for a lasting deployment"
            )

    async def _remove_leftover_webhook(self) -> None:
        """A webhook left behind by webhook mode makes every getUpdates fail with 409: remove it, keeping
        the updates Telegram holds for it."""
        bot, settings = self.runtime.bot, self.runtime.settings
        info = await _telegram_call(bot.get_webhook_info(), settings, "getWebhookInfo")
        if not info.url:
            return
        await _telegram_call(bot.delete_webhook(drop_pending_updates=False), settings, "deleteWebhook")
        parts = urlsplit(info.url)
        log.warning(
            "polling mode: removed the webhook (%s://%s…) left behind by webhook mode; its %d pending "
            "updates are kept and will be polled",
            parts.scheme,
            parts.netloc,
            info.pending_update_count,
        )

    async def _start_operational_server(self) -> web.AppRunner | None:
        """/metrics and /healthz on METRICS_HOST:METRICS_PORT (0 disables them). In webhook mode a
        METRICS_PORT equal to WEBHOOK_PORT shares the webhook's listener instead (see run_webhook)."""
        settings = self.runtime.settings
        if settings.metrics_port == 0:
            return None
        if settings.bot_mode == "webhook" and settings.metrics_port == settings.webhook_port:
            return None
        app = web.Application()
        self._add_operational_routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await _listen(runner, settings.metrics_host, settings.metrics_port, "METRICS_PORT")
        except BaseException:
            await runner.cleanup()
            raise
        return runner

    def _add_operational_routes(self, app: web.Application) -> None:
        runtime = self.runtime
        add_operational_routes(app, runtime.metrics, runtime.redis, runtime.openai, runtime.receipt.problem)

    async def run_webhook(self, *, handle_signals: bool = True) -> None:
        """Serve webhook deliveries until SIGTERM/SIGINT (or `stop()`), then drain and exit cleanly."""
        runtime, settings = self.runtime, self.runtime.settings
        assert settings.webhook_url is not None and settings.webhook_secret is not None  # validated
        secret = settings.webhook_secret.get_secret_value()
        ns = Namespace(settings.bot_id)
        self._intake = WebhookIntake(
            runtime.bot,
            runtime.dispatcher,
            RedisUpdateLog(runtime.redis, ns),
            secret,
            on_delivery=runtime.receipt.received,
        )
        app = web.Application()
        app.router.add_post(settings.webhook_path, self._intake.handle)
        if settings.metrics_port and settings.metrics_port == settings.webhook_port:
            self._add_operational_routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        operational: web.AppRunner | None = None
        background: list[asyncio.Task[None]] = []
        try:
            await _listen(runner, settings.webhook_host, settings.webhook_port, "WEBHOOK_PORT")
            operational = await self._start_operational_server()
            # Idempotent, so every replica may call it; never deleted on shutdown (others keep serving).
            await _telegram_call(
                runtime.bot.set_webhook(
                    settings.webhook_url,
                    secret_token=secret,
                    allowed_updates=runtime.dispatcher.resolve_used_update_types(),
                    drop_pending_updates=False,
                ),
                settings,
                "setWebhook",
            )
            runtime.receipt.received()
            background = [
                asyncio.create_task(
                    beat_forever(runtime.redis, ns, runtime.receipt.problem), name="heartbeat"
                ),
                asyncio.create_task(self._watch_webhook(), name="webhook-watch"),
            ]
            runtime.start_background()
            self.serving.set()
            self._announce(
                f"webhook mode, listening on {settings.webhook_host}:{settings.webhook_port}{settings.webhook_path}"
            )
            if handle_signals:
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(signum, self._stopping.set)
            await self._stopping.wait()
            log.info("shutting down: refusing new deliveries, finishing answers")
            self._intake.accepting = False
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await runtime.close()
            await runner.cleanup()
            if operational is not None:
                await operational.cleanup()
            if self.serving.is_set():
                log.info("stopped")

    async def _watch_webhook(self) -> None:
        """Webhook mode receives passively, so ask Telegram now and then whether it still posts to us."""
        bot, settings, receipt = self.runtime.bot, self.runtime.settings, self.runtime.receipt
        while True:
            await asyncio.sleep(WEBHOOK_CHECK_INTERVAL_S)
            try:
                info = await bot.get_webhook_info()
            except (TelegramAPIError, OSError, TimeoutError) as error:
                receipt.failed(f"getWebhookInfo failed: {type(error).__name__}")
                continue
            if info.url == settings.webhook_url:
                receipt.received()
            else:
                receipt.failed("Telegram no longer posts updates to WEBHOOK_URL (the webhook was changed)")

    async def stop(self) -> None:
        if self.runtime.settings.bot_mode == "webhook":
            self._stopping.set()
        else:
            with contextlib.suppress(RuntimeError):  # polling already ended (e.g. a conflict)
                await self.runtime.dispatcher.stop_polling()


async def _listen(runner: web.AppRunner, host: str, port: int, setting: str) -> None:
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else type(error).__name__
        raise StartupError(
            f"cannot listen on {host}:{port} ({setting}): {reason}",
            f"another process uses port {port}: stop it or choose another {setting}",
        ) from None


async def _telegram_call(call: Awaitable[T], settings: Settings, method: str) -> T:
    """A Bot API call at start: network failures and refusals become one-line StartupErrors."""
    try:
        return await call
    except (TelegramNetworkError, OSError, TimeoutError) as error:
        raise StartupError(
            f"cannot reach Telegram at {telegram_server(settings)} ({type(error).__name__})"
        ) from None
    except TelegramAPIError as error:
        raise StartupError(f"Telegram refused {method}: {' '.join(error.message.split())}") from None


def _conflict_advice(reason: str) -> str:
    for marker, advice in CONFLICT_ADVICE.items():
        if marker in reason:
            return advice
    return f"Telegram refused getUpdates with 409 Conflict ({reason}), so polling stops"
