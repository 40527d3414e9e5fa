"""Is the bot receiving updates? The health check asks this, not only whether Redis answers.

Polling: every getUpdates that returns counts as receiving, and so does a long poll pending after one
that returned (it may legitimately wait for the whole polling timeout); failures are remembered, and
from the first one on the silence is counted. A 409 Conflict means someone else now receives this
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

# aiogram's default long-poll timeout (10 s) plus room for a slow network: a poll pending longer is stuck.
LONG_POLL_LIMIT_S = 30.0


class UpdateReceipt:
    def __init__(self, stale_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._stale_after = stale_after
        self._clock = clock
        self._last_ok = clock()
        self._last_error: str | None = None
        self._polling_since: float | None = None
        self.conflict = asyncio.Event()
        self.conflict_reason = ""

    def polling(self) -> None:
        """A getUpdates request went out."""
        self._polling_since = self._clock()

    def received(self) -> None:
        self._last_ok = self._clock()
        self._last_error = None
        self._polling_since = None

    def failed(self, reason: str) -> None:
        self._last_error = reason
        self._polling_since = None

    def conflicted(self, reason: str) -> None:
        self._last_error = reason
        self.conflict_reason = reason
        self.conflict.set()

    def problem(self) -> str | None:
        """Why updates are not arriving, once that has lasted longer than the stale limit; else None."""
        now = self._clock()
        if self._last_error is None and self._polling_since is not None:
            pending = now - self._polling_since
            if pending <= LONG_POLL_LIMIT_S:
                return None  # a long poll after a good one: waiting for updates is normal
            silent = pending
        else:
            silent = now - self._last_ok
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
        self._receipt.polling()
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
