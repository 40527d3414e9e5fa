"""Every call that shows something in a chat goes through TelegramSender.

It takes a turn from the output scheduler (telegram.budget) for each call, tells it about every 429
(it pauses and learns), retries Telegram
5xx and network errors for text that must arrive, treats "message is not modified" as success,
falls back from rich to classic and from entities to plain text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    DeleteMessage,
    EditMessageText,
    SendChatAction,
    SendDocument,
    SendMessage,
    SendMessageDraft,
    SendRichMessage,
    SendRichMessageDraft,
    TelegramMethod,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, InputRichMessage, Message, ReplyParameters
from aiohttp import ClientConnectorError, ConnectionTimeoutError

from bot.core.output_limits import Kind, Priority
from bot.metrics import Metrics
from bot.telegram.budget import OutputScheduler
from bot.telegram.formatting import Chunk, classic_chunks

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_SERVER_ERROR_RETRIES = 5
NOT_MODIFIED = "message is not modified"
# Calls that create a message: if one is carried out twice, the chat shows it twice. Edits, drafts
# and chat actions are idempotent (an edit repeated is "not modified", which counts as success).
CREATING_METHODS = frozenset({"sendMessage", "sendRichMessage", "sendDocument"})


class RichRejectedError(Exception):
    """Telegram refused a rich message (older server or markup it cannot render)."""


class DraftRejectedError(Exception):
    """Telegram refused a draft (older server, or not a private chat)."""


@dataclass
class Capabilities:
    """What this Bot API server accepts; learnt from refusals, shared by all answers."""

    drafts: bool = True
    rich: bool = True


@dataclass(frozen=True, slots=True)
class Destination:
    chat_id: int
    is_group: bool = False
    thread_id: int | None = None
    reply_to: int | None = None

    @property
    def is_private(self) -> bool:
        return not self.is_group and self.chat_id > 0


MigrationListener = Callable[[int, int], Awaitable[None]]


class TelegramSender:
    def __init__(
        self,
        bot: Bot,
        scheduler: OutputScheduler,
        capabilities: Capabilities,
        metrics: Metrics | None = None,
    ) -> None:
        self._bot = bot
        self._metrics = metrics
        self._scheduler = scheduler
        self.capabilities = capabilities
        self._moved: dict[int, int] = {}
        self._moving: dict[int, asyncio.Event] = {}  # old id → set once its state has been moved
        self._migration_listeners: list[MigrationListener] = []

    def on_migration(self, listener: MigrationListener) -> None:
        """Called once per old id when a group turns out to have become a supergroup."""
        self._migration_listeners.append(listener)

    async def chat_migrated(self, old_chat_id: int, new_chat_id: int) -> None:
        """Record a group → supergroup move (from a service message or a failed send); idempotent.
        A second report of the same move returns only once the first has moved the state: the two
        service messages (one per chat id) are handled concurrently, and a question that follows the
        new chat's one must find the documents and conversation already under the new id."""
        if self._moved.get(old_chat_id) == new_chat_id:
            moving = self._moving.get(old_chat_id)
            if moving is not None:
                await moving.wait()
            return
        self._moved[old_chat_id] = new_chat_id
        moving = self._moving[old_chat_id] = asyncio.Event()
        try:
            await self._scheduler.move_chat(old_chat_id, new_chat_id)
            for listener in self._migration_listeners:
                await listener(old_chat_id, new_chat_id)
        finally:
            moving.set()
            del self._moving[old_chat_id]

    async def after_answer(self, chat_id: int) -> None:
        """An answer that started before its group migrated wrote its state under the old id: move it."""
        new_chat_id = self._moved.get(chat_id)
        if new_chat_id is not None:
            for listener in self._migration_listeners:
                await listener(chat_id, new_chat_id)

    @property
    def scheduler(self) -> OutputScheduler:
        return self._scheduler

    async def chat_action(self, dest: Destination) -> None:
        """A typing indicator: cosmetic, so failures are logged and otherwise ignored."""
        chat_id = self._moved.get(dest.chat_id, dest.chat_id)
        try:
            await self._bot(
                SendChatAction(chat_id=chat_id, action="typing", message_thread_id=dest.thread_id)
            )
        except TelegramMigrateToChat as error:
            await self.chat_migrated(chat_id, error.migrate_to_chat_id)
        except TelegramAPIError as error:
            log.debug("typing action failed: %s", type(error).__name__)

    async def send_markdown(self, dest: Destination, markdown: str, *, reply: bool) -> None:
        """A bot message in Markdown, as classic text in as many parts as it needs (the first replies)."""
        for index, chunk in enumerate(classic_chunks(markdown)):
            await self.send_chunk(dest, chunk, reply=reply and index == 0)

    async def send_chunk(
        self,
        dest: Destination,
        chunk: Chunk,
        *,
        reply: bool,
        essential: bool = True,
        markup: InlineKeyboardMarkup | None = None,
        granted: bool = False,
    ) -> Message | None:
        """`granted`: the caller already holds a turn for this call (a frame's)."""
        method = SendMessage(
            chat_id=dest.chat_id,
            text=chunk.text,
            entities=list(chunk.entities) or None,
            parse_mode=None,
            message_thread_id=dest.thread_id,
            reply_parameters=self._reply(dest, reply),
            reply_markup=markup,
        )
        try:
            return await self._call(method, dest, Kind.MESSAGE, essential, granted=granted)
        except TelegramBadRequest as error:
            if not chunk.entities or "can't parse entities" not in error.message:
                raise
            log.warning("Telegram refused our entities, sending plain text: %s", error.message)
            plain = method.model_copy(update={"entities": None})
            return await self._call(plain, dest, Kind.MESSAGE, essential)

    async def edit_chunk(
        self,
        dest: Destination,
        message_id: int,
        chunk: Chunk,
        *,
        essential: bool = True,
        markup: InlineKeyboardMarkup | None = None,
        granted: bool = False,
    ) -> bool:
        method = EditMessageText(
            chat_id=dest.chat_id,
            message_id=message_id,
            text=chunk.text,
            entities=list(chunk.entities) or None,
            parse_mode=None,
            reply_markup=markup,
        )
        try:
            result = await self._call(method, dest, Kind.MESSAGE, essential, granted=granted)
        except TelegramBadRequest as error:
            if not chunk.entities or "can't parse entities" not in error.message:
                raise
            result = await self._call(
                method.model_copy(update={"entities": None}), dest, Kind.MESSAGE, essential
            )
        return result is not None

    async def send_document(
        self, dest: Destination, filename: str, content: bytes, *, caption: str | None = None
    ) -> Message | None:
        method = SendDocument(
            chat_id=dest.chat_id,
            document=BufferedInputFile(content, filename=filename),
            caption=caption,
            parse_mode=None,
            message_thread_id=dest.thread_id,
            reply_parameters=self._reply(dest, True),
        )
        return await self._call(method, dest, Kind.MESSAGE, essential=True)

    async def delete(self, dest: Destination, message_id: int) -> None:
        await self._call(
            DeleteMessage(chat_id=dest.chat_id, message_id=message_id), dest, Kind.MESSAGE, essential=True
        )

    async def send_rich(self, dest: Destination, markdown: str, *, reply: bool) -> Message | None:
        method = SendRichMessage(
            chat_id=dest.chat_id,
            rich_message=InputRichMessage(markdown=markdown),
            message_thread_id=dest.thread_id,
            reply_parameters=self._reply(dest, reply),
        )
        try:
            return await self._call(method, dest, Kind.MESSAGE, essential=True)
        except (TelegramBadRequest, TelegramNotFound) as error:
            raise self._rich_rejected(error) from error

    async def edit_rich(self, dest: Destination, message_id: int, markdown: str) -> None:
        method = EditMessageText(
            chat_id=dest.chat_id, message_id=message_id, rich_message=InputRichMessage(markdown=markdown)
        )
        try:
            await self._call(method, dest, Kind.MESSAGE, essential=True)
        except (TelegramBadRequest, TelegramNotFound) as error:
            raise self._rich_rejected(error) from error

    async def draft_text(
        self, dest: Destination, draft_id: int, chunk: Chunk, *, granted: bool = False
    ) -> bool:
        method = SendMessageDraft(
            chat_id=dest.chat_id,
            draft_id=draft_id,
            text=chunk.text,
            entities=list(chunk.entities) or None,
            parse_mode=None,
            message_thread_id=dest.thread_id,
            can_stop=True,
        )
        return await self._draft(method, dest, granted)

    async def draft_rich(
        self, dest: Destination, draft_id: int, markdown: str, *, granted: bool = False
    ) -> bool:
        method = SendRichMessageDraft(
            chat_id=dest.chat_id,
            draft_id=draft_id,
            rich_message=InputRichMessage(markdown=markdown),
            message_thread_id=dest.thread_id,
            can_stop=True,
        )
        return await self._draft(method, dest, granted)

    async def _draft(self, method: TelegramMethod[bool], dest: Destination, granted: bool) -> bool:
        try:
            return await self._call(method, dest, Kind.DRAFT, essential=False, granted=granted) is not None
        except (TelegramBadRequest, TelegramNotFound) as error:
            raise DraftRejectedError(error.message) from error

    def _rich_rejected(self, error: TelegramBadRequest | TelegramNotFound) -> RichRejectedError:
        log.warning("Telegram refused a rich message, using classic formatting: %s", error.message)
        if isinstance(error, TelegramNotFound) or "not supported" in error.message.lower():
            self.capabilities.rich = False
        return RichRejectedError(error.message)

    @staticmethod
    def _reply(dest: Destination, reply: bool) -> ReplyParameters | None:
        if not reply or dest.reply_to is None:
            return None
        return ReplyParameters(message_id=dest.reply_to, allow_sending_without_reply=True)

    async def _call(
        self,
        method: TelegramMethod[T],
        dest: Destination,
        kind: Kind,
        essential: bool,
        *,
        granted: bool = False,
    ) -> T | None:
        """Run one Bot API call in a turn of the scheduler. None: a frame was dropped, or the edit
        changed nothing. `granted`: the first attempt already has its turn (a frame's, asked by the
        stream); a repeat always asks for a new one."""
        failures = 0
        while True:
            chat_id = getattr(method, "chat_id", None)
            if isinstance(chat_id, int) and chat_id in self._moved:
                method = method.model_copy(update={"chat_id": self._moved[chat_id]})
                dest = replace(dest, chat_id=self._moved[chat_id], is_group=True)
            if granted:
                granted = False
            elif essential:
                await self._scheduler.turn(dest.chat_id, kind, is_group=dest.is_group)
            elif not await self._scheduler.try_turn(
                dest.chat_id, kind, is_group=dest.is_group, priority=Priority.FRAME
            ):
                return None
            try:
                return await self._bot(method)
            except TelegramAPIError as error:
                self._count(error)
                if isinstance(error, TelegramRetryAfter):
                    log.warning(
                        "429 from Telegram in chat %s: retry after %ss", dest.chat_id, error.retry_after
                    )
                    await self._scheduler.penalise(dest.chat_id, kind, error.retry_after)
                    if not essential:
                        return None
                    continue
                if isinstance(error, TelegramMigrateToChat):
                    log.info("group %s became supergroup %s", dest.chat_id, error.migrate_to_chat_id)
                    await self.chat_migrated(dest.chat_id, error.migrate_to_chat_id)
                    continue
                if isinstance(error, TelegramBadRequest) and NOT_MODIFIED in error.message:
                    return None
                if not isinstance(error, TelegramServerError | TelegramNetworkError):
                    raise
                if not essential:
                    log.info("dropped a frame after a Telegram error: %s", type(error).__name__)
                    return None
                if (
                    isinstance(error, TelegramNetworkError)
                    and method.__api_method__ in CREATING_METHODS
                    and not _never_reached_telegram(error)
                ):
                    # A timeout (or a connection dropped) after the request went out is ambiguous:
                    # Telegram may have carried it out and only the answer was lost. There is no way
                    # to ask whether it did, and a message sent twice cannot be taken back, so a
                    # creating call is NOT repeated then (at most once): the error goes up, the answer
                    # fails and the user is told so (generic notice) instead of seeing a text twice.
                    # Errors from before the request left (connection refused, DNS, connect timeout)
                    # and 5xx answers (Telegram did not carry it out) are retried as usual; edits are
                    # idempotent and always retried.
                    log.error(
                        "Telegram call %s timed out or lost its answer (%s); not repeating it, "
                        "it may have been delivered",
                        method.__api_method__,
                        error,
                    )
                    raise
                failures += 1
                if failures > MAX_SERVER_ERROR_RETRIES:
                    raise
                delay = min(8.0, 0.25 * 2**failures)
                log.warning(
                    "Telegram call %s failed (%s), retrying in %.1fs", method.__api_method__, error, delay
                )
                await asyncio.sleep(delay)

    def _count(self, error: TelegramAPIError) -> None:
        if self._metrics is None:
            return
        if isinstance(error, TelegramRetryAfter):
            self._metrics.telegram_429.inc()
        self._metrics.telegram_errors.labels(kind=_error_kind(error)).inc()


def _never_reached_telegram(error: TelegramNetworkError) -> bool:
    """The request provably never reached Telegram: no connection could be made for it."""
    return isinstance(error.__cause__, ClientConnectorError | ConnectionTimeoutError)


def _error_kind(error: TelegramAPIError) -> str:
    if isinstance(error, TelegramRetryAfter):
        return "retry_after"
    if isinstance(error, TelegramMigrateToChat):
        return "migrated"
    if isinstance(error, TelegramServerError):
        return "server"
    if isinstance(error, TelegramBadRequest):
        return "not_modified" if NOT_MODIFIED in error.message else "bad_request"
    return type(error).__name__.removeprefix("Telegram").removesuffix("Error").lower() or "other"
