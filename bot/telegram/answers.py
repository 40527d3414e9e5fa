"""Turns an addressed Telegram message into a queued answer, and lets the Stop button reach it.

This is the Telegram side of the answer use case: it picks the destination and the view, queues
the job in the chat's lane (one answer per conversation at a time) and keeps a registry of running
answers so a `stopped_message_generation` update can stop the right one.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Hashable
from dataclasses import dataclass, field

from bot.core.answering import AnswerQuestion
from bot.core.documents import KnowledgeBaseService
from bot.core.models import ConversationKey, Language, Notice, Question
from bot.core.scheduling import ChatScheduler
from bot.telegram import texts
from bot.telegram.delivery import Destination, TelegramSender
from bot.telegram.documents import DocumentFlow
from bot.telegram.formatting import classic_chunks, escape_markdown
from bot.telegram.streaming import StreamingAnswerView, ViewOptions

log = logging.getLogger(__name__)


@dataclass
class ActiveAnswers:
    """Stop events of the answers being streamed, by (chat id, draft id)."""

    _stops: dict[tuple[int, int], asyncio.Event] = field(default_factory=dict)

    def register(self, chat_id: int, draft_id: int) -> asyncio.Event:
        event = asyncio.Event()
        self._stops[(chat_id, draft_id)] = event
        return event

    def unregister(self, chat_id: int, draft_id: int) -> None:
        self._stops.pop((chat_id, draft_id), None)

    def stop(self, chat_id: int, draft_id: int) -> bool:
        event = self._stops.get((chat_id, draft_id))
        if event is None:
            return False
        event.set()
        return True

    def __len__(self) -> int:
        return len(self._stops)


@dataclass(frozen=True, slots=True)
class AnswerOptions:
    reply_format: str
    private_streaming: str
    max_question_chars: int


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
    ) -> None:
        self._use_case = use_case
        self._scheduler = scheduler
        self._sender = sender
        self._active = active
        self._options = options
        self._knowledge = knowledge
        self._documents = documents

    async def ask(self, question: Question, dest: Destination) -> None:
        """Validate and queue a question. Everything up to the queueing is synchronous, so
        messages keep their arrival order in the chat's lane."""
        notice = self._validate(question)
        if notice is None:
            lane: Hashable = question.key
            if self._scheduler.submit(lane, lambda: self._answer(question, dest)):
                return
            notice = Notice.QUEUE_FULL
        await self.notify(dest, question.language, notice, length=len(question.text))

    async def notify(self, dest: Destination, language: Language, notice: Notice, **values: object) -> None:
        values.setdefault("limit", self._options.max_question_chars)
        message = texts.text(language, notice, **values)
        for chunk in classic_chunks(escape_markdown(message)):
            await self._sender.send_chunk(dest, chunk, reply=True)

    def _validate(self, question: Question) -> Notice | None:
        if not question.text.strip():
            return Notice.EMPTY_QUESTION
        if len(question.text) > self._options.max_question_chars:
            return Notice.QUESTION_TOO_LONG
        return None

    async def _answer(self, question: Question, dest: Destination) -> None:
        draft_id = secrets.randbelow(2**31 - 2) + 1
        options = ViewOptions(
            reply_format="classic" if self._options.reply_format == "classic" else "rich",
            use_drafts=self._options.private_streaming == "draft",
            language=question.language,
        )
        search = await self._search_scope(question, dest)
        view = StreamingAnswerView(self._sender, dest, options, draft_id)
        stop = self._active.register(dest.chat_id, draft_id)
        try:
            report = await self._use_case.execute(question, view, stop, search)
            log.info("answer in chat %s: %s, %d chars", dest.chat_id, report.outcome, report.shown_chars)
        finally:
            self._active.unregister(dest.chat_id, draft_id)
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
