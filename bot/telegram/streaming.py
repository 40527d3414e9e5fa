"""The streaming renderer: shows an answer while it grows, then delivers it whole.

Private chats stream into a draft (`sendMessageDraft` / `sendRichMessageDraft` with a Stop button)
and finish with a real message. Groups — and private chats when the operator prefers it, or when
the server refuses drafts — stream by editing a sent message, continuing in follow-up messages when
the text outgrows one. Frames are coalesced: a background pump sends the newest text whenever the
chat's budget allows, so intermediate frames may be skipped but the final text never is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup, Message

from bot.core.models import Language, Notice
from bot.core.output_limits import Grant, Kind, Priority
from bot.telegram import texts
from bot.telegram.delivery import Destination, DraftRejectedError, RichRejectedError, TelegramSender
from bot.telegram.formatting import (
    CLASSIC_LIMIT,
    RICH_LIMIT,
    Chunk,
    classic_chunks,
    escape_markdown,
    inert_markdown,
    rich_parts,
    with_sources,
)

log = logging.getLogger(__name__)

DRAFT_KEEPALIVE_S = 20.0  # drafts vanish after 30 s without an update
# Groups share 20 sends+edits per minute among all answers: frames of one answer go at most every 3 s.
GROUP_FRAME_INTERVAL_S = 3.0
# Private chats: frames of one answer never come closer than this (about what the per-chat budgets
# allow anyway). The scheduler is asked only once it has passed — asking costs a share of a Redis round
# trip, and text changes with every delta.
DRAFT_FRAME_INTERVAL_S = 0.3
EDIT_FRAME_INTERVAL_S = 1.0
RICH_DRAFT_TAIL = RICH_LIMIT - 1024


@dataclass(frozen=True, slots=True)
class ViewOptions:
    reply_format: Literal["rich", "classic"]
    use_drafts: bool
    language: Language
    stop_markup: InlineKeyboardMarkup | None = None
    """Inline Stop button shown under an answer streamed by edits (drafts have their own)."""
    draft_keepalive_s: float | None = None
    """Seconds without a change after which the draft is re-sent (None: DRAFT_KEEPALIVE_S)."""
    preamble: str | None = None
    """Markdown shown above the answer from the first frame on (e.g. what was heard of a voice note);
    not part of the answer's text."""


class ShownMessages(Protocol):
    """Told about every message the answer puts in the chat, and when the final text is delivered,
    so that a replica resuming an interrupted answer knows what the user already saw."""

    async def message_sending(self) -> None: ...

    async def message_shown(self, message_id: int) -> None: ...

    async def message_unsent(self) -> None: ...

    async def finished(self) -> None: ...


class StreamingAnswerView:
    """AnswerView for one answer in one chat."""

    def __init__(
        self,
        sender: TelegramSender,
        dest: Destination,
        options: ViewOptions,
        draft_id: int,
        shown: ShownMessages | None = None,
    ) -> None:
        self._sender = sender
        self._shown_messages = shown
        self._dest = dest
        self._options = options
        self._draft_id = draft_id
        self._drafting = options.use_drafts and dest.is_private and sender.capabilities.drafts
        self._latest = ""
        self._shown = ""
        self._changed = asyncio.Event()
        self._finishing = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._last_frame_at = 0.0
        self._finishing_future: asyncio.Future[None] | None = None
        self._change_waiter: asyncio.Future[None] | None = None  # set by the next change (keepalive wait)
        self._messages: list[int] = []  # edit mode: the messages holding the answer so far
        self._message_texts: list[str] = []
        self.first_visible_at: float | None = None

    @property
    def shown_text(self) -> str:
        return self._shown

    @property
    def draft_id(self) -> int:
        return self._draft_id

    async def start(self) -> None:
        # The typing indicator goes out from the pump, so asking the model is not delayed by it.
        self._pump = asyncio.create_task(self._run_pump(), name=f"frames:{self._dest.chat_id}")
        if self._options.preamble:
            self._signal_change()  # the preamble is shown at once, while the model starts

    def show(self, text: str) -> None:
        self._latest = text
        self._signal_change()

    def _signal_change(self) -> None:
        self._changed.set()
        waiter = self._change_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def complete(self, text: str, sources: Sequence[str], web_sources: Sequence[str] = ()) -> None:
        await self._stop_pump()
        label = texts.text(self._options.language, "sources")
        await self._deliver(with_sources(text, sources, label, web_sources))

    async def interrupt(self, text: str, notice: Notice) -> None:
        await self._stop_pump()
        note = f"_{escape_markdown(texts.text(self._options.language, notice))}_"
        body = f"{text.rstrip()}\n\n{note}" if text.strip() else note
        await self._deliver(body)

    async def fail(self, notice: Notice) -> None:
        await self._stop_pump()
        await self._deliver(escape_markdown(texts.text(self._options.language, notice)))

    async def close(self) -> None:
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    # -- frames while streaming ---------------------------------------------------------------

    async def _stop_pump(self) -> None:
        self._finishing.set()
        self._signal_change()
        if self._finishing_future is not None and not self._finishing_future.done():
            self._finishing_future.set_result(None)
        if self._pump is not None:
            try:
                await self._pump
            except Exception:
                log.exception("frame pump failed")

    async def _run_pump(self) -> None:
        # The typing indicator goes out beside the frames: under a burst its call can take a while, and
        # the first frame must not wait for it.
        typing = asyncio.create_task(
            self._sender.chat_action(self._dest), name=f"typing:{self._dest.chat_id}"
        )
        try:
            await self._pump_frames()
        except BaseException:
            typing.cancel()
            raise
        finally:
            await asyncio.gather(typing, return_exceptions=True)

    async def _pump_frames(self) -> None:
        while not self._finishing.is_set():
            if not await self._wait_for_change():
                continue
            if self._last_frame_at:
                too_soon = self._last_frame_at + self._frame_interval() - time.monotonic()
                if too_soon > 0:
                    await self._sleep_unless_finishing(too_soon)
                    continue
            # Wait in the scheduler's queue; the newest text goes when the turn comes, so a frame that
            # could not go soon is never sent stale: it is replaced by the text of that moment.
            grant = await self._wait_for_turn()
            if grant is None:
                return  # the answer is done: its final text takes a turn of its own
            delay = self._sender.scheduler.until_turn(grant)
            if delay > 0:
                await self._sleep_unless_finishing(delay)
            if self._finishing.is_set():
                self._sender.scheduler.unused(self._dest.chat_id, grant)
                return
            if self._sender.scheduler.missed(grant):
                self._sender.scheduler.unused(self._dest.chat_id, grant)
                continue  # came back too late for the turn: ask for another one
            self._changed.clear()
            try:
                await self._send_frame(self._latest)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A frame is only a preview: log and let the final delivery do its job.
                log.exception("streaming frame failed in chat %s", self._dest.chat_id)

    async def _wait_for_turn(self) -> Grant | None:
        """A turn for the next frame, or None once the answer is finishing (the request leaves the queue)."""
        turn = self._sender.scheduler.acquire(
            self._dest.chat_id,
            Kind.DRAFT if self._drafting else Kind.MESSAGE,
            is_group=self._dest.is_group,
            priority=Priority.FRAME if self._shown else Priority.FIRST_FRAME,
        )
        try:
            await asyncio.wait((turn, self._finishing_waiter()), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not turn.done():
                turn.cancel()  # leave the queue: finishing, or the pump itself was cancelled
        return None if turn.cancelled() else turn.result()

    def _finishing_waiter(self) -> asyncio.Future[None]:
        """One future per answer that resolves when it starts finishing (waited on beside each turn)."""
        if self._finishing_future is None:
            self._finishing_future = asyncio.get_running_loop().create_future()
            if self._finishing.is_set():
                self._finishing_future.set_result(None)
        return self._finishing_future

    def _frame_interval(self) -> float:
        if self._dest.is_group:
            return GROUP_FRAME_INTERVAL_S
        return DRAFT_FRAME_INTERVAL_S if self._drafting else EDIT_FRAME_INTERVAL_S

    async def _wait_for_change(self) -> bool:
        """True when there is new text to show; in draft mode also wakes to keep the draft alive."""
        if not self._drafting or not self._shown:
            await self._changed.wait()
            return not self._finishing.is_set()
        if not self._changed.is_set():
            keepalive = self._options.draft_keepalive_s or DRAFT_KEEPALIVE_S
            remaining = keepalive - (time.monotonic() - self._last_frame_at)
            # A future and asyncio.wait, not wait_for(Event.wait()): no task and timer to build for
            # every wake of a pump that wakes with every delta.
            waiter = self._change_waiter = asyncio.get_running_loop().create_future()
            try:
                changed, _ = await asyncio.wait((waiter,), timeout=max(0.05, remaining))
            finally:
                self._change_waiter = None
            if not changed:
                self._changed.set()  # re-send the same text so the draft does not expire
        return not self._finishing.is_set()

    async def _sleep_unless_finishing(self, delay: float) -> None:
        # asyncio.wait on a future wakes in one turn of the event loop; wait_for on a coroutine takes
        # three (a task to create, then to cancel and await): a busy loop made frames miss their turns.
        await asyncio.wait((self._finishing_waiter(),), timeout=delay)

    def _with_preamble(self, markdown: str) -> str:
        preamble = self._options.preamble
        if not preamble:
            return markdown
        return f"{preamble}\n\n{markdown}" if markdown.strip() else preamble

    async def _send_frame(self, text: str) -> None:
        shown = self._with_preamble(inert_markdown(text))
        if not shown.strip():
            return
        # The frame's turn is granted already (see _run_pump): its first call does not ask again.
        if self._drafting:
            try:
                sent = await self._send_draft(shown)
            except DraftRejectedError as error:
                log.warning("drafts refused (%s); streaming by edits instead", error)
                self._sender.capabilities.drafts = False
                self._drafting = False
                sent = await self._send_edit_frame(shown, granted=False)
        else:
            sent = await self._send_edit_frame(shown, granted=True)
        if sent:
            self._mark_shown(text)

    async def _send_draft(self, text: str) -> bool:
        if self._options.reply_format == "rich" and self._sender.capabilities.rich:
            try:
                return await self._sender.draft_rich(
                    self._dest, self._draft_id, text[-RICH_DRAFT_TAIL:], granted=True
                )
            except DraftRejectedError:
                if not self._sender.capabilities.drafts:
                    raise
                # Rich drafts refused but plain drafts may work: try the classic form below (its own turn).
                return await self._sender.draft_text(self._dest, self._draft_id, classic_chunks(text)[-1])
        chunk = classic_chunks(text)[-1]
        return await self._sender.draft_text(self._dest, self._draft_id, chunk, granted=True)

    async def _send_edit_frame(self, text: str, *, granted: bool) -> bool:
        chunks = classic_chunks(text)
        return await self._sync_messages(chunks, final=False, granted=granted)

    async def _sync_messages(self, chunks: list[Chunk], *, final: bool, granted: bool = False) -> bool:
        """Make the answer's messages show `chunks`: edit what changed, send what is new.

        Earlier messages are always brought up to date (essential), so a message is never left cut
        when the text moves on to the next one; the last one may be skipped unless `final`. While
        streaming, the last message carries the Stop button; final texts carry no keyboard.
        `granted`: the frame's turn, held for the last message's call.
        """
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            essential = final or not last
            markup = self._options.stop_markup if last and not final else None
            if index < len(self._messages):
                drops_stop_button = final and last and self._options.stop_markup is not None
                if self._message_texts[index] == chunk.text and not drops_stop_button:
                    continue
                try:
                    edited = await self._sender.edit_chunk(
                        self._dest,
                        self._messages[index],
                        chunk,
                        essential=essential,
                        markup=markup,
                        granted=granted and not essential,
                    )
                except TelegramBadRequest as error:
                    if not final or "message to edit not found" not in error.message:
                        raise
                    # The message is gone (deleted, or the group migrated): continue in a new one.
                    log.warning("answer message vanished; sending the rest anew")
                    del self._messages[index:], self._message_texts[index:]
                    return await self._sync_messages(chunks[index:], final=final, granted=granted)
                if not edited and not essential:
                    return False
                self._message_texts[index] = chunk.text
            else:
                message = await self._reported_send(
                    self._sender.send_chunk(
                        self._dest,
                        chunk,
                        reply=not self._messages,
                        essential=essential,
                        markup=markup,
                        granted=granted and not essential,
                    )
                )
                if message is None:
                    return False
                self._messages.append(message.message_id)
                self._message_texts.append(chunk.text)
        return True

    def _mark_shown(self, text: str) -> None:
        self._last_frame_at = time.monotonic()
        if len(text) >= len(self._shown):
            self._shown = text
        if self.first_visible_at is None:
            self.first_visible_at = time.time()

    # -- final delivery -----------------------------------------------------------------------

    async def _deliver(self, markdown: str) -> None:
        shown = self._with_preamble(inert_markdown(markdown))
        if self._options.reply_format == "rich" and self._sender.capabilities.rich:
            try:
                await self._deliver_rich(shown)
            except RichRejectedError:
                pass
            else:
                self._mark_shown(markdown)
                await self._report_finished()
                return
        await self._deliver_classic(shown)
        self._mark_shown(markdown)
        await self._report_finished()

    async def _reported_send(self, sending: Awaitable[Message | None]) -> Message | None:
        """A send of a new message, recorded around it: if this process dies meanwhile, whoever
        resumes the answer knows a message of it may be on screen (see ShownMessages)."""
        await self._report(lambda shown: shown.message_sending())
        # If the send raises, the mark stays: the message may have reached the chat all the same.
        message = await sending
        if message is None:
            await self._report(lambda shown: shown.message_unsent())
        else:
            await self._report(lambda shown: shown.message_shown(message.message_id))
        return message

    async def _report(self, event: Callable[[ShownMessages], Awaitable[None]]) -> None:
        if self._shown_messages is not None:
            try:
                await event(self._shown_messages)
            except Exception as error:  # progress is a safety net; the answer goes on without it
                log.warning("could not record the answer's progress: %s", type(error).__name__)

    async def _report_finished(self) -> None:
        await self._report(lambda shown: shown.finished())

    async def _deliver_rich(self, markdown: str) -> None:
        parts = rich_parts(markdown)
        if self._messages:
            if len(self._messages) > 1 or len(parts) > 1:
                raise RichRejectedError("answer already spans several messages")
            await self._sender.edit_rich(self._dest, self._messages[0], parts[0])
            self._message_texts[0] = parts[0]
            return
        for index, part in enumerate(parts):
            try:
                message = await self._reported_send(
                    self._sender.send_rich(self._dest, part, reply=index == 0)
                )
            except RichRejectedError:
                if index == 0:
                    raise
                # Later parts fall back one by one; the first parts are already shown.
                for chunk in classic_chunks(part, CLASSIC_LIMIT):
                    await self._reported_send(self._sender.send_chunk(self._dest, chunk, reply=False))
                continue
            if message is not None:
                self._messages.append(message.message_id)
                self._message_texts.append(part)

    async def _deliver_classic(self, markdown: str) -> None:
        chunks = classic_chunks(markdown)
        await self._sync_messages(chunks, final=True)
        for extra in self._messages[len(chunks) :]:
            log.info("final answer is shorter than its preview; leaving message %s as is", extra)
