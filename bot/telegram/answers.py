"""Turns an addressed Telegram message into a queued answer, and lets the Stop button reach it.

This is the Telegram side of the answer use case: it picks the destination and the view, queues
the job in the conversation's durable lane (one answer per conversation at a time, on whichever
replica holds the lane) and keeps a registry of running answers so a `stopped_message_generation`
update can stop the right one. A job whose earlier run was interrupted (its replica died) is resumed:
what the user saw of it is removed and the answer is given again — or, after a second interruption,
or when the run died while sending a message it could not record, replaced by one apology.

An answer that leaves its conversation's chain close to the model's context queues a rollover job
right behind itself in the same lane (bot.core.context): the summary is written while the user reads,
before the conversation's next question is answered, and survives its replica dying.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.access import AccessPolicy
from bot.core.answering import AnswerQuestion, AnswerReport, Rollover
from bot.core.chat_settings import ChatSettings, ReplyFormat
from bot.core.context import ContextRollover
from bot.core.documents import KnowledgeBaseService
from bot.core.lanes import (
    JobDeferred,
    JobProgress,
    LaneJob,
    LaneRunner,
    NewJob,
    Submitted,
    cancelled_for_lock_loss,
    quietly,
)
from bot.core.models import ConversationKey, Language, Notice, Outcome, Question, Turn, Usage
from bot.core.usage import BudgetScope, UsageBudget
from bot.logs import correlation_id
from bot.metrics import Metrics
from bot.storage.outage import is_storage_outage
from bot.telegram import texts
from bot.telegram.delivery import Destination, TelegramSender
from bot.telegram.documents import DocumentFlow
from bot.telegram.formatting import Chunk, escape_markdown
from bot.telegram.jobs import (
    destination_from_json,
    destination_to_json,
    job_identity,
    key_from_json,
    key_to_json,
    lane_name,
    reference_from_json,
    reference_to_json,
)
from bot.telegram.media import JobMedia, MediaFailure, MediaPreparer, PreparedQuestion
from bot.telegram.notices import BackgroundNotices, Once
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
    private_streaming: str
    max_question_chars: int


STOP_CALLBACK_PREFIX = "stop:"
ANSWER_JOB = "answer"
# Rolling a conversation over ahead of need, right after an answer: a job in the conversation's lane,
# so it never runs beside an answer of that conversation and survives its replica dying.
ROLLOVER_JOB = "rollover"
# A job interrupted twice is not tried a third time: it may be what brings its replica down.
MAX_ANSWER_ATTEMPTS = 2


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


class AnswerDirectory(Protocol):
    """Running answers listed for every replica, so a Stop pressed anywhere reaches them."""

    async def started(self, chat_id: int, answer_id: int, asker_id: int | None) -> None: ...

    async def ended(self, chat_id: int, answer_id: int) -> None: ...


class RecentChatter(Protocol):
    async def take(self, key: ConversationKey) -> list[Turn]: ...


class ChatSettingsSource(Protocol):
    async def current(self, key: ConversationKey) -> ChatSettings: ...


@dataclass(slots=True)
class _JobShownMessages:
    """The view's progress, recorded on the job (see streaming.ShownMessages)."""

    progress: JobProgress
    job_id: str
    delivered: bool = False

    async def message_sending(self) -> None:
        await self.progress.message_sending(self.job_id)

    async def message_shown(self, message_id: int) -> None:
        await self.progress.message_shown(self.job_id, message_id)

    async def message_unsent(self) -> None:
        await self.progress.message_unsent(self.job_id)

    async def finished(self) -> None:
        self.delivered = True
        await self.progress.finished(self.job_id)


@dataclass(frozen=True, slots=True)
class AnswerJob:
    """What an answer job carries through Redis, so that any replica can run (or resume) it."""

    question: Question
    dest: Destination
    asker_id: int | None
    received_at: float
    answer_id: int
    correlation: str | None
    message_id: int | None = None  # the user's message, which notices about this answer reply to
    media: JobMedia | None = None  # voice, images or a replied voice note, fetched when the job runs

    def to_json(self) -> dict[str, Any]:
        return {
            "key": key_to_json(self.question.key),
            "text": self.question.text,
            "language": self.question.language,
            "author": self.question.author,
            "refers_to": reference_to_json(self.question.refers_to),
            "dest": destination_to_json(self.dest),
            "asker_id": self.asker_id,
            "received_at": self.received_at,
            "answer_id": self.answer_id,
            "correlation": self.correlation,
            "message_id": self.message_id,
            "media": self.media.to_json() if self.media else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AnswerJob:
        return cls(
            question=Question(
                key=key_from_json(data["key"]),
                text=str(data["text"]),
                language="ru" if data["language"] == "ru" else "en",
                author=data["author"],
                refers_to=reference_from_json(data.get("refers_to")),
            ),
            dest=destination_from_json(data["dest"]),
            asker_id=data["asker_id"],
            received_at=float(data["received_at"]),
            answer_id=int(data["answer_id"]),
            correlation=data["correlation"],
            message_id=data.get("message_id"),
            media=JobMedia.from_json(data.get("media")),
        )


class ChatAnswers:
    def __init__(
        self,
        use_case: AnswerQuestion,
        lanes: LaneRunner,
        progress: JobProgress,
        sender: TelegramSender,
        active: ActiveAnswers,
        options: AnswerOptions,
        knowledge: KnowledgeBaseService,
        documents: DocumentFlow,
        budget: UsageBudget,
        metrics: Metrics,
        access: AccessPolicy,
        directory: AnswerDirectory,
        chat_settings: ChatSettingsSource,
        rollover: ContextRollover,
        chatter: RecentChatter | None = None,
        notices: BackgroundNotices | None = None,
        media: MediaPreparer | None = None,
    ) -> None:
        """`notices`: where refusals of `ask` go, off the update path (None: sent inline).
        `media`: fetches and transcribes what voice and image questions need when their job runs."""
        self._notices = notices
        self._media = media
        self._directory = directory
        self._chat_settings = chat_settings
        self._use_case = use_case
        self._rollover = rollover
        self._lanes = lanes
        self._progress = progress
        lanes.register(ANSWER_JOB, self._run_job)
        lanes.register(ROLLOVER_JOB, self._run_rollover_job)
        self._sender = sender
        self._active = active
        self._options = options
        self._knowledge = knowledge
        self._documents = documents
        self._chatter = chatter
        self._budget = budget
        self._metrics = metrics
        self._access = access

    async def ask(
        self,
        question: Question,
        dest: Destination,
        asker_id: int | None = None,
        message_id: int | None = None,
        media: JobMedia | None = None,
    ) -> None:
        """Validate the question and queue it durably in its conversation's lane: in update order, in
        a group each member in turn and within their share. A refusal is sent off the update path; a
        member hears "queue full" at most once a minute however many messages they send.
        `media`: files the question needs (a spoken question's recording, images), checked already."""
        notice = self._validate(question, media)
        if notice is None:
            job_id, order = job_identity(ANSWER_JOB)
            job = AnswerJob(
                question=question,
                dest=dest,
                asker_id=asker_id,
                received_at=time.time(),
                answer_id=secrets.randbelow(2**31 - 2) + 1,  # also the draft id: must be non-zero
                correlation=correlation_id.get(),
                message_id=message_id,
                media=media or None,
            )
            member = str(asker_id) if dest.is_group and asker_id is not None else None
            submitted = await self._lanes.submit(
                lane_name(question.key), NewJob(job_id, ANSWER_JOB, job.to_json(), order, member)
            )
            if submitted in (Submitted.ACCEPTED, Submitted.DUPLICATE):
                return
            full = submitted in (Submitted.FULL, Submitted.MEMBER_FULL)
            notice = Notice.QUEUE_FULL if full else Notice.STORAGE_UNAVAILABLE
        if self._notices is None:
            await self.notify(dest, question.language, notice, length=len(question.text))
            return
        once = Once(str(notice), str(asker_id)) if notice is Notice.QUEUE_FULL else None
        text = texts.text(
            question.language, notice, length=len(question.text), limit=self._options.max_question_chars
        )
        self._notices.send(dest, text, once=once)

    async def close(self, deadline: float) -> None:
        """Shutdown: notices still on their way get `deadline` seconds."""
        if self._notices is not None:
            await self._notices.close(deadline)

    async def _run_job(self, lane_job: LaneJob) -> None:
        job = AnswerJob.from_json(lane_job.payload)
        correlation_id.set(job.correlation)  # the lane's task may have been started by another update
        language = job.question.language
        shown = _JobShownMessages(self._progress, lane_job.job_id)
        try:
            if lane_job.attempt > 1:
                # Notices about the interrupted answer point at the message they are about.
                notices = replace(job.dest, reply_to=job.message_id or job.dest.reply_to)
                if lane_job.finished:
                    log.info("an interrupted run had already delivered this answer")
                    return
                await self._remove_partial(job.dest, lane_job.messages)
                if lane_job.sending:
                    # A message of it may be on screen with an id we never learned: answering again
                    # could show the answer twice, so the user gets one clear word instead.
                    log.error("answer interrupted while sending a message; apologising")
                    self._metrics.answers.labels(outcome="lost").inc()
                    await self.notify(notices, language, Notice.ANSWER_UNCERTAIN)
                    return
                if lane_job.attempt > MAX_ANSWER_ATTEMPTS:
                    log.error("answer interrupted %d times; apologising", lane_job.attempt - 1)
                    self._metrics.answers.labels(outcome="lost").inc()
                    await self.notify(notices, language, Notice.ANSWER_LOST)
                    return
                log.warning("resuming an answer interrupted by a restart")
            report = await self._answer(job, shown)
            if report is not None and report.rollover_due:
                await self._schedule_rollover(lane_job, job.question.key, report.context_handle)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("answer failed")
            if shown.delivered:
                return  # only the bookkeeping after the final text failed: the user has the answer
            # Whatever broke (Redis gone, a Telegram refusal), the user hears about it briefly.
            self._metrics.answers.labels(outcome="error").inc()
            await self._notify_failure(job.dest, language, outage=is_storage_outage(error))
            if is_storage_outage(error):
                # The job cannot be marked done either: it stays queued, its lane is given up, and
                # the sweeper answers it again once Redis is back.
                raise JobDeferred("storage unreachable") from error

    async def _schedule_rollover(self, answered: LaneJob, key: ConversationKey, handle: str | None) -> None:
        """Queue the rollover right behind the answer that made it due: before any later question of
        the conversation, after nothing that came before."""
        payload = {"key": key_to_json(key), "handle": handle, "correlation": correlation_id.get()}
        job = NewJob(f"{ROLLOVER_JOB}:{answered.job_id}", ROLLOVER_JOB, payload, answered.order)
        submitted = await self._lanes.submit(answered.lane, job)
        if submitted not in (Submitted.ACCEPTED, Submitted.DUPLICATE):
            log.info("rollover not queued (%s); the next answer rolls over if it must", submitted)

    async def _run_rollover_job(self, lane_job: LaneJob) -> None:
        data = lane_job.payload
        correlation_id.set(data.get("correlation"))
        if lane_job.attempt > MAX_ANSWER_ATTEMPTS:
            log.error("rollover interrupted %d times; leaving it to the next answer", lane_job.attempt - 1)
            return
        key = key_from_json(data["key"])
        chain = await self._rollover.in_background(key, data.get("handle"))
        if chain is None:
            return
        self._metrics.context_rollovers.labels(reason=Rollover.BACKGROUND).inc()
        if chain.usage is not None:
            self._count_tokens(chain.usage)
            # The summary is the chat's cost: it counts against the chat's budget, not a member's.
            await self._budget.record(
                None, key.chat_id, chain.usage.total_tokens, approximate=chain.usage.approximate
            )

    async def _remove_partial(self, dest: Destination, message_ids: Sequence[int]) -> None:
        """An interrupted run's messages go, so the user never sees a partial answer and a full one."""
        for message_id in message_ids:
            try:
                await self._sender.delete(dest, message_id)
            except Exception as error:
                log.warning("could not remove an interrupted answer's message: %s", type(error).__name__)

    async def _notify_failure(self, dest: Destination, language: Language, outage: bool = False) -> None:
        try:
            await self.notify(dest, language, Notice.STORAGE_UNAVAILABLE if outage else Notice.INTERNAL_ERROR)
        except Exception:
            log.exception("could not tell the user about a failed answer")

    async def notify(self, dest: Destination, language: Language, notice: Notice, **values: object) -> None:
        values.setdefault("limit", self._options.max_question_chars)
        message = texts.text(language, notice, **values)
        await self._sender.send_markdown(dest, escape_markdown(message), reply=True)

    def _validate(self, question: Question, media: JobMedia | None = None) -> Notice | None:
        spoken_or_shown = media is not None and (media.voice is not None or bool(media.images))
        if not question.text.strip() and not spoken_or_shown:
            return Notice.EMPTY_QUESTION
        if len(question.text) > self._options.max_question_chars:
            return Notice.QUESTION_TOO_LONG
        return None

    async def _answer(self, job: AnswerJob, shown: _JobShownMessages) -> AnswerReport | None:
        question, dest, asker_id, answer_id = job.question, job.dest, job.asker_id, job.answer_id
        exempt = self._access.is_admin(asker_id)
        exhausted = await self._budget.exhausted(asker_id, dest.chat_id, exempt=exempt)
        if exhausted is not None:
            self._metrics.budget_refusals.inc()
            key = "budget_user_exhausted" if exhausted.scope is BudgetScope.USER else "budget_chat_exhausted"
            message = texts.text(question.language, key, limit=exhausted.limit)
            await self._sender.send_chunk(dest, Chunk(message), reply=True)
            return None
        # Read when the answer runs, not when it was asked: a change made meanwhile applies.
        settings = await self._chat_settings.current(question.key)
        prepared = await self._prepare(job)
        if isinstance(prepared, MediaFailure):
            self._metrics.answers.labels(outcome=str(Outcome.FAILED)).inc()
            await self.notify(job.dest, question.language, prepared.notice, **prepared.values)
            return None
        question, images = prepared.question, prepared.images
        options = ViewOptions(
            reply_format="rich" if settings.reply_format is ReplyFormat.RICH else "classic",
            use_drafts=self._options.private_streaming == "draft",
            language=question.language,
            stop_markup=stop_keyboard(answer_id, question.language),
            preamble=prepared.preamble,
        )
        # Images go to the image-capable model, which cannot search the chat's documents.
        search = None if images else await self._search_scope(question, dest)
        context = await self._chatter.take(question.key) if self._chatter and dest.is_group else []
        view = StreamingAnswerView(self._sender, dest, options, answer_id, shown)
        stop = self._active.register(dest.chat_id, answer_id, asker_id)
        try:
            await self._directory.started(dest.chat_id, answer_id, asker_id)
            report = await self._finalizing_on_shutdown(
                self._use_case.execute(
                    question, view, stop, search, context=context, images=images, profile=settings.profile
                ),
                view,
                question,
            )
            self._observe(report, view, job.received_at)
            await self._budget.record(
                asker_id, dest.chat_id, report.usage.total_tokens, approximate=report.usage.approximate
            )
            log.info(
                "answer finished",
                extra={
                    "outcome": str(report.outcome),
                    "chars": report.shown_chars,
                    "tokens": report.usage.total_tokens,
                    "tokens_estimated": report.usage.approximate,
                    "rollovers": len(report.rollovers),
                },
            )
            return report
        finally:
            self._active.unregister(dest.chat_id, answer_id)
            await quietly(self._directory.ended(dest.chat_id, answer_id), "unlisting an answer")
            await self._sender.after_answer(dest.chat_id)
            await view.close()

    async def _prepare(self, job: AnswerJob) -> PreparedQuestion | MediaFailure:
        """The question the model gets: a recording becomes its transcript, images are fetched."""
        if job.media is None:
            return PreparedQuestion(job.question)
        if self._media is None:
            return MediaFailure(Notice.MEDIA_UNAVAILABLE)
        await self._sender.chat_action(job.dest)  # a recording takes a moment to transcribe
        return await self._media.prepare(job.question, job.media)

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
        except asyncio.CancelledError as error:
            if cancelled_for_lock_loss(error):
                raise  # another replica resumes this answer: leave everything to it
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
        self._count_tokens(report.usage)
        for reason in report.rollovers:
            self._metrics.context_rollovers.labels(reason=reason).inc()

    def _count_tokens(self, usage: Usage) -> None:
        self._metrics.tokens.labels(direction="input").inc(usage.input_tokens)
        self._metrics.tokens.labels(direction="output").inc(usage.output_tokens)
