"""Short notices sent off the update path: the update that caused one is handled at once, while the
notice waits for the chat's Telegram budget in a task of its own (owned here, logged, drained on
shutdown), optionally at most once per member per interval.

Why: a notice answering a refused message may wait a long time for a busy group's budget (20 sends
per minute); sent inside the handler, it would hold up every later update of that chat.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from bot.telegram.delivery import Destination, TelegramSender
from bot.telegram.formatting import escape_markdown

log = logging.getLogger(__name__)


class NoticeLog(Protocol):
    async def first_within(self, kind: str, chat_id: int, member: str, seconds: int) -> bool: ...


@dataclass(frozen=True, slots=True)
class Once:
    """Send only the first notice of `kind` to `member` within `seconds`."""

    kind: str
    member: str
    seconds: int = 60


class BackgroundNotices:
    def __init__(self, sender: TelegramSender, log_of_notices: NoticeLog) -> None:
        self._sender = sender
        self._log = log_of_notices
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, dest: Destination, text: str, *, once: Once | None = None) -> None:
        task = asyncio.create_task(self._send(dest, text, once), name=f"notice:{dest.chat_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, dest: Destination, text: str, once: Once | None) -> None:
        try:
            if once is not None and not await self._log.first_within(
                once.kind, dest.chat_id, once.member, once.seconds
            ):
                return
            await self._sender.send_markdown(dest, escape_markdown(text), reply=True)
        except Exception as error:
            log.warning("a notice could not be sent: %s", type(error).__name__)

    async def close(self, deadline: float) -> None:
        """Let pending notices go out within `deadline` seconds; cancel the rest."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=deadline)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
