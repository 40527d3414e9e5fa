"""Running the fake: `running_telegram_fake()` serves it on 127.0.0.1 and yields a `TelegramFake` handle.

The handle is the Python door of the control API (the same `Controller` the HTTP routes use): tests create
users and chats, act as users, and read every call, message version, draft frame and rate-limit violation.
Point the real aiogram client at it with
`Bot(fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from .app import build_app
from .config import FakeConfig
from .control import Controller
from .core import FakeBotApi
from .ratelimit import PenaltyScope


class TelegramFake:
    """Handle of a running fake server."""

    def __init__(self, api: FakeBotApi, controller: Controller, base_url: str) -> None:
        self._api = api
        self._control = controller
        self.base_url = base_url

    @property
    def token(self) -> str:
        return self._api.config.token

    @property
    def config(self) -> FakeConfig:
        """The live configuration; changes apply to the next request."""
        return self._api.config

    @property
    def controller(self) -> Controller:
        return self._control

    # --- acting as Telegram users -------------------------------------------------------------------------

    async def create_user(
        self,
        first_name: str,
        *,
        username: str | None = None,
        language_code: str | None = "en",
        user_id: int | None = None,
        last_name: str | None = None,
        is_bot: bool = False,
    ) -> dict[str, Any]:
        return self._control.create_user(
            first_name,
            username=username,
            language_code=language_code,
            user_id=user_id,
            last_name=last_name,
            is_bot=is_bot,
        )

    async def create_private_chat(self, user: dict[str, Any]) -> dict[str, Any]:
        return self._control.create_private_chat(user["id"])

    async def create_group(
        self,
        title: str,
        *,
        supergroup: bool = False,
        forum: bool = False,
        members: list[dict[str, Any]] | None = None,
        bot_status: str = "member",
    ) -> dict[str, Any]:
        return self._control.create_group(
            title,
            supergroup=supergroup,
            forum=forum,
            member_ids=[member["id"] for member in members or []],
            bot_status=bot_status,
        )

    async def create_topic(self, chat_id: int, name: str, *, by: dict[str, Any]) -> int:
        return self._control.create_topic(chat_id, name, by_user_id=by["id"])

    async def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        self._control.set_member_status(chat_id, user_id, status)

    async def add_bot(self, chat_id: int, *, by: dict[str, Any], status: str = "member") -> None:
        self._control.add_bot(chat_id, by_user_id=by["id"], status=status)

    async def remove_bot(self, chat_id: int, *, by: dict[str, Any]) -> None:
        self._control.remove_bot(chat_id, by_user_id=by["id"])

    async def send_user_message(
        self,
        chat_id: int,
        user: dict[str, Any],
        text: str | None = None,
        *,
        entities: list[dict[str, Any]] | None = None,
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        document: dict[str, Any] | None = None,
        caption: str | None = None,
        media_group_id: str | None = None,
        sticker: bool = False,
        voice: bool | dict[str, Any] = False,
        anonymous: bool = False,
        audio: dict[str, Any] | None = None,
        photo: dict[str, Any] | None = None,
        quote: str | None = None,
        forward_origin: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """See `Controller.send_user_message` (media, quotes and forwards included)."""
        return self._control.send_user_message(
            chat_id,
            user["id"],
            text,
            entities=entities,
            reply_to_message_id=reply_to_message_id,
            message_thread_id=message_thread_id,
            document=document,
            caption=caption,
            media_group_id=media_group_id,
            sticker=sticker,
            voice=voice,
            anonymous=anonymous,
            audio=audio,
            photo=photo,
            quote=quote,
            forward_origin=forward_origin,
        )

    async def send_media_group(
        self,
        chat_id: int,
        user: dict[str, Any],
        documents: list[dict[str, Any]] | None = None,
        *,
        photos: list[dict[str, Any]] | None = None,
        caption: str | None = None,
        message_thread_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> list[dict[str, Any]]:
        return self._control.send_media_group(
            chat_id,
            user["id"],
            documents,
            photos=photos,
            caption=caption,
            message_thread_id=message_thread_id,
            reply_to_message_id=reply_to_message_id,
        )

    async def press_button(self, chat_id: int, message_id: int, data: str, *, user: dict[str, Any]) -> str:
        return self._control.press_button(chat_id, message_id, data, user_id=user["id"])

    async def forge_callback(self, chat_id: int, message_id: int, data: str, *, user: dict[str, Any]) -> str:
        return self._control.forge_callback(chat_id, message_id, data, user_id=user["id"])

    async def press_stop(self, chat_id: int, draft_id: int, *, message_thread_id: int | None = None) -> None:
        self._control.press_stop(chat_id, draft_id, message_thread_id=message_thread_id)

    async def migrate_group(self, chat_id: int) -> int:
        return self._control.migrate_group(chat_id)

    async def block_bot(self, user_id: int) -> None:
        self._control.block_bot(user_id)

    async def unblock_bot(self, user_id: int) -> None:
        self._control.unblock_bot(user_id)

    # --- faults and reading what the bot did ----------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        count: int = 1,
        *,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        penalty: PenaltyScope = "chat",
        after_delivery: bool = False,
    ) -> None:
        """Queue failures: an injected 429 penalises the chat (penalty="global": the whole bot) as an earned
        one does; `after_delivery` carries the call out before answering with the error."""
        self._control.fail_next(
            method,
            count,
            error_code=error_code,
            description=description,
            retry_after=retry_after,
            migrate_to_chat_id=migrate_to_chat_id,
            penalty=penalty,
            after_delivery=after_delivery,
        )

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        return self._control.calls(method)

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        return self._control.bot_messages(chat_id)

    def drafts(self, chat_id: int) -> list[dict[str, Any]]:
        return self._control.drafts(chat_id)

    def chat_actions(self, chat_id: int) -> list[dict[str, Any]]:
        return self._control.chat_actions(chat_id)

    def callback_answers(self) -> list[dict[str, Any]]:
        return self._control.callback_answers()

    def violations(self) -> list[dict[str, Any]]:
        """Every 429 the bot earned: over a limit, or inside a penalty window (injected 429s are not here)."""
        return self._control.violations()

    def injected_429s(self) -> list[dict[str, Any]]:
        return self._control.injected_429s()

    def rate_stats(self) -> dict[str, int]:
        return self._control.rate_stats()

    def visible_drafts(self, chat_id: int) -> list[dict[str, Any]]:
        return self._control.visible_drafts(chat_id)

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        return self._control.webhook_deliveries()

    def pending_updates(self) -> list[dict[str, Any]]:
        return self._control.pending_updates()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Poll `predicate` until it holds; on timeout fail with the bot's last calls (getUpdates left out)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                recent = [
                    f"{c['method']} ok={c['ok']} {c['description'] or ''}".rstrip()
                    for c in self.calls()
                    if c["method"] != "getUpdates"
                ][-10:]
                raise AssertionError(
                    f"condition not met within {timeout} s; last Bot API calls: {recent or 'none'}"
                )
            await asyncio.sleep(0.01)

    def reset(self) -> None:
        self._control.reset()


@asynccontextmanager
async def running_telegram_fake(
    config: FakeConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[TelegramFake]:
    """Serve a fresh fake on host:port (0 = a free port) for the duration of the block."""
    api = FakeBotApi(config or FakeConfig())
    controller = Controller(api)
    runner = web.AppRunner(build_app(api, controller), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        yield TelegramFake(api, controller, base_url=f"http://{host}:{bound_port}")
    finally:
        await api.close()
        await runner.cleanup()
