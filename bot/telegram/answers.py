"""Turns an addressed Telegram message into a queued answer, and lets the Stop button reach it.

This is the Telegram side of the answer use case: it picks the destination and the view, queues
the job in the chat's lane (one answer per conversation at a time) and keeps a registry of running
answers so a `stopped_message_generation` update can stop the right one.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.access import AccessPolicy
from bot.core.answering import AnswerQuestion, AnswerReport
from bot.core.documents import KnowledgeBaseService
from bot.core.models import ConversationKey, Language, Notice, Question, Turn
from bot.core.scheduling import ChatScheduler
from bot.core.usage import BudgetScope, UsageBudget
from bot.logs import correlation_id
from bot.metrics import Metrics
from bot.telegram import texts
from bot.telegram.delivery import Destination, TelegramSender
from bot.telegram.documents import DocumentFlow
from bot.telegram.formatting import Chunk, escape_markdown
from bot.telegram.streaming import StreamingAnswerView, ViewOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunningAnswer:
    stop: asyncio.Event
    asker_id: int | None


@dataclass
class ActiveAnswers:
    """The answers being streamed, by (chat id, answer id); the answer id is also the draft id."""

    _running: dict[tuple[int, int], RunningAnswer] = field(default_factory=dict)

    def register(self, chat_id: int, answer_id: int, asker_id: int | None) -> asyncio.Event:
        running = RunningAnswer(asyncio.Event(), asker_id)
        self._running[(chat_id, answer_id)] = running
        return running.stop

    def unregister(self, chat_id: int, answer_id: int) -> None:
        self._running.pop((chat_id, answer_id), None)

    def get(self, chat_id: int, answer_id: int) -> RunningAnswer | None:
        return self._running.get((chat_id, answer_id))

    def stop(self, chat_id: int, answer_id: int) -> bool:
        running = self._running.get((chat_id, answer_id))
        if running is None:
            return False
        running.stop.set()
        return True

    def move_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        for chat_id, answer_id in [k for k in self._running if k[0] == old_chat_id]:
            self._running[(new_chat_id, answer_id)] = self._running.pop((chat_id, answer_id))

    def __len__(self) -> int:
        return len(self._running)


@dataclass(frozen=True, slots=True)
class AnswerOptions:
    reply_format: str
    private_streaming: str
    max_question_chars: int


STOP_CALLBACK_PREFIX = "stop:"


def stop_keyboard(answer_id: int, language: Language) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=texts.text(language, "stop_button"),
                    callback_data=f"{STOP_CALLBACK_PREFIX}{answer_id}",
                )
            ]
        ]
    )


@dataclass(frozen=True, slots=True)
class _ChatSearchScope:
    """The chat's document index; rebuilding it re-indexes from Telegram file ids, telling the user."""

    index_id: str
    knowledge: KnowledgeBaseService
    documents: DocumentFlow
    key: ConversationKey
    dest: Destination
    language: Language

    async def rebuild(self) -> str | None:
        await self.documents.rebuild(self.key, self.dest, self.language)
        return (await self.knowledge.search_target(self.key)).index_id


class RecentChatter(Protocol):
    async def take(self, key: ConversationKey) -> list[Turn]: ...


class ChatAnswers:
    def __init__(
        self,
        use_case: AnswerQuestion,
        scheduler: ChatScheduler,
        sender: TelegramSender,
        active: ActiveAnswers,
        options: AnswerOptions,
        knowledge: KnowledgeBaseService,
        documents: DocumentFlow,
        budget: UsageBudget,
        metrics: Metrics,
        access: AccessPolicy,
        chatter: RecentChatter | None = None,
    ) -> None:
        self._use_case = use_case
        self._scheduler = scheduler
        self._sender = sender
        self._active = active
        self._options = options
        self._knowledge = knowledge
        self._documents = documents
        self._chatter = chatter
        self._budget = budget
        self._metrics = metrics
        self._access = access

    async def ask(self, question: Question, dest: Destination, asker_id: int | None = None) -> None:
        """Validate and queue a question. Everything up to the queueing is synchronous, so
        messages keep their arrival order in the chat's lane."""
        notice = self._validate(question)
        if notice is None:
            lane: Hashable = question.key
            update_id = correlation_id.get()
            received_at = time.time()

            async def job() -> None:
                correlation_id.set(update_id)  # the lane's task may have been started by another update
                try:
                    await self._answer(question, dest, asker_id, received_at)
                except Exception:
                    # Whatever broke (Redis gone, a Telegram refusal), the user hears about it briefly.
                    log.exception("answer failed")
                    self._metrics.answers.labels(outcome="error").inc()
                    await self._notify_failure(dest, question.language)

            if self._scheduler.submit(lane, job):
                return
            notice = Notice.QUEUE_FULL
        await self.notify(dest, question.language, notice, length=len(question.text))

    async def _notify_failure(self, dest: Destination, language: Language) -> None:
        try:
            await self.notify(dest, language, Notice.INTERNAL_ERROR)
        except Exception:
            log.exception("could not tell the user about a failed answer")

    async def notify(self, dest: Destination, language: Language, notice: Notice, **values: object) -> None:
        values.setdefault("limit", self._options.max_question_chars)
        message = texts.text(language, notice, **values)
        await self._sender.send_markdown(dest, escape_markdown(message), reply=True)

    def _validate(self, question: Question) -> Notice | None:
        if not question.text.strip():
            return Notice.EMPTY_QUESTION
        if len(question.text) > self._options.max_question_chars:
            return Notice.QUESTION_TOO_LONG
        return None

    async def _answer(
        self, question: Question, dest: Destination, asker_id: int | None, received_at: float
    ) -> None:
        exempt = self._access.is_admin(asker_id)
        exhausted = await self._budget.exhausted(asker_id, dest.chat_id, exempt=exempt)
        if exhausted is not None:
            self._metrics.budget_refusals.inc()
            key = "budget_user_exhausted" if exhausted.scope is BudgetScope.USER else "budget_chat_exhausted"
            message = texts.text(question.language, key, limit=exhausted.limit)
            await self._sender.send_chunk(dest, Chunk(message), reply=True)
            return
        answer_id = secrets.randbelow(2**31 - 2) + 1  # also the draft id: must be non-zero
        options = ViewOptions(
            reply_format="classic" if self._options.reply_format == "classic" else "rich",
            use_drafts=self._options.private_streaming == "draft",
            language=question.language,
            stop_markup=stop_keyboard(answer_id, question.language),
        )
        search = await self._search_scope(question, dest)
        context = await self._chatter.take(question.key) if self._chatter and dest.is_group else []
        view = StreamingAnswerView(self._sender, dest, options, answer_id)
        stop = self._active.register(dest.chat_id, answer_id, asker_id)
        try:
            report = await self._finalizing_on_shutdown(
                self._use_case.execute(question, view, stop, search, context=context), view, question
            )
            self._observe(report, view, received_at)
            await self._budget.record(asker_id, dest.chat_id, report.usage.total_tokens)
            log.info(
                "answer finished",
                extra={
                    "outcome": str(report.outcome),
                    "chars": report.shown_chars,
                    "tokens": report.usage.total_tokens,
                },
            )
        finally:
            self._active.unregister(dest.chat_id, answer_id)
            await self._sender.after_answer(dest.chat_id)
            await view.close()

    async def _search_scope(self, question: Question, dest: Destination) -> _ChatSearchScope | None:
        target = await self._knowledge.search_target(question.key)
        index_id = target.index_id
        if target.has_documents and index_id is None:
            # The index was reclaimed (provider quota): rebuild it before answering.
            await self._documents.rebuild(question.key, dest, question.language)
            index_id = (await self._knowledge.search_target(question.key)).index_id
        if index_id is None:
            return None
        return _ChatSearchScope(
            index_id, self._knowledge, self._documents, question.key, dest, question.language
        )

    async def _finalizing_on_shutdown(
        self, answering: Coroutine[Any, Any, AnswerReport], view: StreamingAnswerView, question: Question
    ) -> AnswerReport:
        """If shutdown cancels the answer, end it cleanly: what was shown plus a note, no stray draft."""
        try:
            return await answering
        except asyncio.CancelledError:
            log.warning("answer cancelled by shutdown; finalizing what was shown")
            try:
                await asyncio.wait_for(view.interrupt(view.shown_text, Notice.SHUTTING_DOWN), timeout=5)
            except Exception:
                log.exception("could not finalize an answer during shutdown")
            raise

    def _observe(self, report: AnswerReport, view: StreamingAnswerView, received_at: float) -> None:
        self._metrics.answers.labels(outcome=str(report.outcome)).inc()
        self._metrics.answer_seconds.observe(time.time() - received_at)
        if view.first_visible_at is not None:
            self._metrics.first_visible_seconds.observe(max(0.0, view.first_visible_at - received_at))
        self._metrics.tokens.labels(direction="input").inc(report.usage.input_tokens)
        self._metrics.tokens.labels(direction="output").inc(report.usage.output_tokens)
