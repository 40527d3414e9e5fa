"""Is the bot receiving updates? The health check asks this, not only whether Redis answers.

Polling: every getUpdates that returns counts as receiving (it returns at least every polling timeout,
with or without updates); failures are remembered. A 409 Conflict means someone else now receives this
bot's updates — another process polling with the same token, or a webhook set meanwhile — and polling
cannot win that fight: `conflict` is set so the bot stops with a clear message instead of looping.
Webhook mode: a periodic getWebhookInfo confirms Telegram still posts to our WEBHOOK_URL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramConflictError
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType


class UpdateReceipt:
    def __init__(self, stale_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._stale_after = stale_after
        self._clock = clock
        self._last_ok = clock()
        self._last_error: str | None = None
        self.conflict = asyncio.Event()
        self.conflict_reason = ""

    def received(self) -> None:
        self._last_ok = self._clock()
        self._last_error = None

    def failed(self, reason: str) -> None:
        self._last_error = reason

    def conflicted(self, reason: str) -> None:
        self._last_error = reason
        self.conflict_reason = reason
        self.conflict.set()

    def problem(self) -> str | None:
        """Why updates are not arriving, once that has lasted longer than the stale limit; else None."""
        silent = self._clock() - self._last_ok
        if silent <= self._stale_after:
            return None
        cause = f" (last error: {self._last_error})" if self._last_error else ""
        return f"no updates received from Telegram for {silent:.0f} s{cause}"


class ReceiptMiddleware(BaseRequestMiddleware):
    """Watches getUpdates calls (aiogram's polling loop retries failures forever on its own)."""

    def __init__(self, receipt: UpdateReceipt) -> None:
        self._receipt = receipt

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        polls = isinstance(method, GetUpdates)
        if not polls:
            return await make_request(bot, method)
        try:
            response = await make_request(bot, method)
        except TelegramConflictError as error:
            self._receipt.conflicted(error.message)
            raise
        except Exception as error:
            self._receipt.failed(type(error).__name__)
            raise
        self._receipt.received()
        return response
