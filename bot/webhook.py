"""Webhook mode: an aiohttp server on the path of WEBHOOK_URL, plus /metrics and /healthz.

- The secret token header is checked on every delivery (missing or wrong → 401).
- Deliveries are de-duplicated by update_id in Redis, so a retried delivery — possibly reaching
  another replica — is handled once; a redelivery racing the first one gets 503 and comes back later.
- Handlers only queue durable work (core.lanes), so a delivery is acknowledged within milliseconds
  and what it asked for survives this replica.
- While Redis is unreachable, updates are still handled without de-duplication: their handlers fail
  and tell the user the bot is temporarily unavailable.
- While shutting down, deliveries get 503 so Telegram (or the balancer) retries them elsewhere.
- The webhook is set on start (idempotent) and never deleted on shutdown: other replicas keep serving.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web

from bot.storage.outage import is_storage_outage
from bot.storage.updates import Delivery, RedisUpdateLog

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookIntake:
    def __init__(
        self,
        bot: Bot,
        dispatcher: Dispatcher,
        updates: RedisUpdateLog,
        secret: str,
        *,
        on_delivery: Callable[[], None] = lambda: None,
    ) -> None:
        self._bot = bot
        self._dispatcher = dispatcher
        self._updates = updates
        self._secret = secret
        self._on_delivery = on_delivery
        self.accepting = True

    async def handle(self, request: web.Request) -> web.Response:
        if not self.accepting:
            return web.Response(status=503, text="shutting down")
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            return web.Response(status=401, text="unauthorized")
        try:
            payload: dict[str, Any] = await request.json()
            update = Update.model_validate(payload, context={"bot": self._bot})
        except ValueError:
            return web.Response(status=400, text="bad update")
        self._on_delivery()
        try:
            delivery = await self._updates.begin(update.update_id)
        except Exception as error:
            if not is_storage_outage(error):
                raise
            delivery = Delivery.NEW
            log.warning("Redis unreachable: handling update %s without de-duplication", update.update_id)
        if delivery is Delivery.DONE:
            log.info("duplicate delivery ignored", extra={"duplicate_update_id": update.update_id})
            return web.json_response({})
        if delivery is Delivery.IN_PROGRESS:
            return web.Response(status=503, text="update in progress elsewhere")
        try:
            await self._dispatcher.feed_update(self._bot, update)
        except Exception:
            # Handlers report their own failures to users; anything escaping is logged, and the
            # delivery is acknowledged so Telegram does not retry a poison update forever.
            log.exception("update handling failed")
        try:
            await self._updates.done(update.update_id)
        except Exception as error:
            log.warning("could not mark update %s done: %s", update.update_id, type(error).__name__)
        return web.json_response({})
