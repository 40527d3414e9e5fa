"""Webhook delivery: POST each pending update as JSON to the bot's URL, like Telegram does.

Per chat, updates go out one at a time in order (a lane task per chat; with `webhook_concurrent` every update
has a task of its own, so one chat's updates may overlap); lanes of different chats run in
parallel, at most `max_connections` requests at once. A non-2xx answer or a connection error is retried with
a doubling backoff (config `webhook_retry_min_delay_s` … `webhook_retry_max_delay_s`) until it succeeds or
the webhook is removed; the last failure shows in getWebhookInfo. As Telegram allows, a 2xx answer may carry
a Bot API call (`{"method": ..., ...}` as JSON or multipart form), which is executed like a request.
Every attempt is recorded in `deliveries`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from .config import FakeConfig
from .params import Params, UploadedFile
from .updates import UpdateQueue, update_chat_id

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

ReplyHandler = Callable[[str, Params], Awaitable[None]]


class WebhookDelivery:
    def __init__(self, config: FakeConfig, queue: UpdateQueue, reply_handler: ReplyHandler) -> None:
        self._config = config
        self._queue = queue
        self._reply_handler = reply_handler
        self.url: str | None = None
        self.secret_token: str | None = None
        self.max_connections = 40
        self.allowed_updates: frozenset[str] | None = None
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self.deliveries: list[dict[str, Any]] = []
        self._lanes: dict[object, asyncio.Task[None]] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self._semaphore = asyncio.Semaphore(self.max_connections)
        self._session: aiohttp.ClientSession | None = None
        queue.add_listener(self._on_update)

    @property
    def active(self) -> bool:
        return self.url is not None

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue.pending),
        }
        if self.url is not None:
            info["max_connections"] = self.max_connections
            if self.allowed_updates:
                info["allowed_updates"] = sorted(self.allowed_updates)
        if self.last_error_date is not None:
            info["last_error_date"] = self.last_error_date
            info["last_error_message"] = self.last_error_message
        return info

    def set(
        self, url: str, *, secret_token: str | None, max_connections: int, allowed_updates: list[str] | None
    ) -> None:
        self._stop_lanes()
        self.url = url
        self.secret_token = secret_token
        self.max_connections = max_connections
        if allowed_updates is not None:
            self.allowed_updates = frozenset(allowed_updates)
        self.last_error_date = self.last_error_message = None
        self._semaphore = asyncio.Semaphore(max_connections)
        for update in list(self._queue.pending):
            self._schedule(update)
        self._queue.wake()  # a pending getUpdates now fails with the webhook conflict

    def delete(self) -> None:
        self._stop_lanes()
        self.url = self.secret_token = None
        self.last_error_date = self.last_error_message = None

    async def close(self) -> None:
        """Cancel and await every delivery task, then close the HTTP session."""
        self._stop_lanes()
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _on_update(self, update: dict[str, Any]) -> None:
        if self.active:
            self._schedule(update)

    def _schedule(self, update: dict[str, Any]) -> None:
        if self._config.webhook_concurrent:
            # Each update on its own connection: one chat's updates may be in flight together.
            key: object = ("update", update["update_id"])
            if key not in self._lanes:
                self._lanes[key] = asyncio.create_task(
                    self._run_single(key, update), name=f"webhook-update-{update['update_id']}"
                )
            return
        chat_id = update_chat_id(update)
        if chat_id not in self._lanes:
            self._lanes[chat_id] = asyncio.create_task(
                self._run_lane(chat_id), name=f"webhook-lane-{chat_id}"
            )

    async def _run_single(self, key: object, update: dict[str, Any]) -> None:
        this_task = asyncio.current_task()
        try:
            if self._queue.is_allowed(update, self.allowed_updates):
                await self._deliver(update)
            self._queue.remove(update)
        finally:
            if self._lanes.get(key) is this_task:
                del self._lanes[key]

    def _stop_lanes(self) -> None:
        for task in self._lanes.values():
            task.cancel()
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        self._lanes.clear()

    async def _run_lane(self, chat_id: int | None) -> None:
        this_task = asyncio.current_task()
        try:
            while True:
                update = next((u for u in self._queue.pending if update_chat_id(u) == chat_id), None)
                if update is None:
                    return
                if self._queue.is_allowed(update, self.allowed_updates):
                    await self._deliver(update)
                self._queue.remove(update)
        finally:
            if self._lanes.get(chat_id) is this_task:
                del self._lanes[chat_id]

    async def _deliver(self, update: dict[str, Any]) -> None:
        delay = self._config.webhook_retry_min_delay_s
        attempt = 0
        while True:
            attempt += 1
            async with self._semaphore:
                error, reply = await self._post(update)
            self.deliveries.append(
                {"update_id": update["update_id"], "attempt": attempt, "error": error, "at": time.time()}
            )
            if error is None:
                if reply is not None:
                    await self._reply_handler(*reply)
                return
            self.last_error_date = int(time.time())
            self.last_error_message = error
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._config.webhook_retry_max_delay_s)

    async def _post(self, update: dict[str, Any]) -> tuple[str | None, tuple[str, Params] | None]:
        """One delivery attempt → (error or None, a Bot API call found in the answer)."""
        assert self.url is not None
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {SECRET_HEADER: self.secret_token} if self.secret_token else {}
        timeout = aiohttp.ClientTimeout(total=self._config.webhook_timeout_s)
        try:
            async with self._session.post(
                self.url, json=update, headers=headers, timeout=timeout
            ) as response:
                if not 200 <= response.status < 300:
                    return f"Wrong response from the webhook: {response.status} {response.reason}", None
                return None, await _read_reply(response)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"Connection failed: {exc.__class__.__name__}", None


async def _read_reply(response: aiohttp.ClientResponse) -> tuple[str, Params] | None:
    """A Bot API call in a webhook answer: JSON `{"method": ...}` or a multipart form (aiogram's format)."""
    values: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    if response.content_type == "application/json":
        body = await response.json()
        values = body if isinstance(body, dict) else {}
    elif response.content_type.startswith("multipart/"):
        reader = aiohttp.MultipartReader(response.headers, response.content)
        async for part in reader:
            if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
                continue
            if part.filename:
                content_type = part.headers.get(aiohttp.hdrs.CONTENT_TYPE)
                files[part.name] = UploadedFile(part.filename, content_type, bytes(await part.read()))
            else:
                values[part.name] = await part.text()
    else:
        await response.read()
    method = values.pop("method", None)
    if not isinstance(method, str) or not method:
        return None
    return method, Params(values, files)
