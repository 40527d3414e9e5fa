"""The use case at the heart of the product: answer one question in one conversation.

Rules:
- The provider's context is referenced by an opaque handle kept per conversation. When the provider
  has lost it, the conversation continues from the stored transcript instead of forgetting.
- Provider failures are retried with backoff only while the user has seen nothing; afterwards the
  partial answer is kept with a note (retrying then would show a second, different answer).
- Every provider call, retries included, goes through a circuit breaker (bot.core.breaker): during an
  outage questions fail fast with a notice instead of each one retrying against a dead provider.
- Whatever the user saw is persisted: a stopped or broken answer is remembered in the transcript
  and handed to the model with the next question, since the provider's chain does not contain it.
- A provider chain is made with one model. When the chat's model is not the chain's any more (the
  chat switched in /settings, or the operator withdrew its model), the answer starts a new chain that
  carries the recent turns over (`_new_chain`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bot.core.authors import labelled
from bot.core.breaker import BreakerPolicy, BreakerState, CircuitBreaker, Permit, ProviderUnavailableError
from bot.core.errors import ContextLostError, ProviderError, SearchIndexGoneError
from bot.core.models import AnswerProfile, CompletedAnswer, Notice, Outcome, Question, Turn, Usage
from bot.core.ports import (
    AnswerModel,
    AnswerRequest,
    AnswerStream,
    AnswerView,
    ConversationState,
    ConversationStore,
    SearchScope,
)

log = logging.getLogger(__name__)

MAX_CARRY_OVER_TURNS = 10


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 4.0

    def delay(self, attempt: int, jitter: Callable[[], float] = random.random) -> float:
        """Exponential backoff with full jitter in [50%, 100%] of the step."""
        step: float = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return step * (0.5 + 0.5 * jitter())


DEFAULT_MODEL = "yandexgpt/latest"


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    instructions: str
    """The operator's instructions: used when the caller gives no AnswerProfile."""
    model: str = DEFAULT_MODEL
    """The operator's default model: used without an AnswerProfile, and assumed for chains that do
    not record their model (made before chats could choose one)."""
    replay_turns: int = 20
    replay_chars: int = 12_000
    retry: RetryPolicy = RetryPolicy()


@dataclass(frozen=True, slots=True)
class AnswerReport:
    outcome: Outcome
    usage: Usage = Usage()
    shown_chars: int = 0


class _Stopped(Exception):
    """The user asked to stop; raised inside the use case only."""


class AnswerQuestion:
    def __init__(
        self,
        model: AnswerModel,
        store: ConversationStore,
        settings: AnswerSettings,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        """`breaker`: shared by every call of this use case; without one the breaker never opens."""
        self._model = model
        self._store = store
        self._settings = settings
        self._breaker = breaker or CircuitBreaker(BreakerPolicy(failures=0))

    async def execute(
        self,
        question: Question,
        view: AnswerView,
        stop: asyncio.Event,
        search: SearchScope | None = None,
        context: Sequence[Turn] = (),
        profile: AnswerProfile | None = None,
    ) -> AnswerReport:
        """Answer `question` into `view`. `context`: extra turns for the model only (e.g. recent group
        messages that were not addressed to the assistant); they are not added to the transcript.
        `profile`: the chat's model, instructions and web search (default: the operator's)."""
        await view.start()
        profile = profile or AnswerProfile(
            model=self._settings.model, instructions=self._settings.instructions
        )
        state = await self._store.load(question.key)
        request = AnswerRequest(
            text=_model_text(question),
            instructions=profile.instructions,
            model=profile.model,
            context_handle=state.context_handle,
            replay=(*state.carry_over, *context),
            search_index=search.index_id if search else None,
            web_search=profile.web_search,
        )
        if state.context_handle is not None and (state.model or self._settings.model) != profile.model:
            log.info("the chat's model changed; starting a new chain with the recent turns")
            request = await self._new_chain(question, request, context)
        user_turn = Turn(role="user", text=question.text, author=question.author)
        received = ""
        permit: Permit | None = None  # the breaker's verdict on the call whose stream we read
        try:
            stream, permit = await self._open_stream(question, request, stop, search)
            watcher = asyncio.create_task(_cancel_when_stopped(stream, stop))
            try:
                async for delta in stream.deltas():
                    if stop.is_set():
                        await stream.cancel()  # the watcher may not have run yet; cancel is idempotent
                        break
                    permit.succeeded()  # the provider is producing text
                    received += delta
                    view.show(received)
                completed = stream.result
            finally:
                if not stop.is_set():
                    watcher.cancel()
                # When stopped, let the watcher's cancel request reach the provider before closing.
                await asyncio.gather(watcher, return_exceptions=True)
                await stream.close()
            if stop.is_set():
                raise _Stopped
            if completed is None:
                permit.failed()  # no completion event: as a broken stream (ignored once text came)
            else:
                permit.succeeded()
        except _Stopped:
            return await self._stopped(question, view, state, user_turn)
        except ProviderError as error:
            if stop.is_set():
                return await self._stopped(question, view, state, user_turn)
            if permit is not None:
                permit.settle(error)  # a stream dead before any text counts against the provider
            if received:
                log.warning("answer stream broke after %d chars: %s", len(received), error)
                await view.interrupt(received, Notice.ANSWER_INTERRUPTED)
                await self._remember_partial(question, state, user_turn, received)
                return AnswerReport(Outcome.INTERRUPTED, shown_chars=len(received))
            if isinstance(error, ProviderUnavailableError):
                log.info("answer refused without calling the provider: %s", error)
            else:
                log.warning("answer failed before any text: %s", error)
            await view.fail(_notice_for(error))
            await self._store.record(question.key, [user_turn], state)
            return AnswerReport(Outcome.FAILED)
        finally:
            if permit is not None:
                permit.abandoned()  # no verdict yet (stopped, or failed on our side): frees a probe
        if completed is None:
            # The stream ended without a completion event: treat like a broken stream.
            await view.interrupt(received, Notice.ANSWER_INTERRUPTED)
            await self._remember_partial(question, state, user_turn, received)
            return AnswerReport(Outcome.INTERRUPTED, shown_chars=len(received))
        return await self._finish(question, view, user_turn, completed, request.model)

    async def _stopped(
        self, question: Question, view: AnswerView, state: ConversationState, user_turn: Turn
    ) -> AnswerReport:
        shown = view.shown_text
        await view.interrupt(shown, Notice.ANSWER_STOPPED)
        await self._remember_partial(question, state, user_turn, shown)
        return AnswerReport(Outcome.STOPPED, shown_chars=len(shown))

    async def _open_stream(
        self, question: Question, request: AnswerRequest, stop: asyncio.Event, search: SearchScope | None
    ) -> tuple[AnswerStream, Permit]:
        """Start the stream, recovering a lost context or index once and retrying transient failures.
        Returns the stream with the breaker permit its reader settles; failed starts settle their own."""
        attempt = 0
        context_recovered = False
        index_rebuilt = False
        while True:
            if stop.is_set():
                raise _Stopped
            attempt += 1
            try:
                return await self._start(request)
            except SearchIndexGoneError:
                if search is None or index_rebuilt:
                    raise
                index_rebuilt = True
                log.info("provider lost the document index; rebuilding it")
                request = replace(request, search_index=await search.rebuild())
            except ContextLostError:
                if context_recovered:
                    raise
                context_recovered = True
                log.info("provider lost the conversation context; replaying the stored transcript")
                request = await self._new_chain(question, request)
            except ProviderError as error:
                if not error.retryable or attempt >= self._settings.retry.attempts:
                    raise
                if self._breaker.state is BreakerState.OPEN:
                    raise  # this failure opened it: the retry would be refused after the wait anyway
                delay = self._settings.retry.delay(attempt)
                log.info("provider error (%s), retry %d in %.2fs", error, attempt, delay)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    continue
                raise _Stopped from None

    async def _start(self, request: AnswerRequest) -> tuple[AnswerStream, Permit]:
        """One provider call through the breaker: `ProviderUnavailableError` when it is open."""
        permit = self._breaker.admit()
        try:
            return await self._model.start(request), permit
        except ProviderError as error:
            permit.settle(error)
            raise
        except BaseException:
            permit.abandoned()
            raise

    async def _new_chain(
        self, question: Question, request: AnswerRequest, context: Sequence[Turn] = ()
    ) -> AnswerRequest:
        """The request as the first of a new provider chain, carrying over the most recent turns of
        the transcript (within the replay budget) and `context`. Used when the provider lost the chain
        and when the chat's model changed."""
        turns = await self._store.recent_turns(question.key, self._settings.replay_turns)
        budget = self._settings.replay_chars
        kept: list[Turn] = []
        for turn in reversed(turns):
            budget -= len(turn.text)
            if budget < 0:
                break
            kept.append(turn)
        kept.reverse()
        return replace(request, context_handle=None, replay=(*kept, *context))

    async def _finish(
        self, question: Question, view: AnswerView, user_turn: Turn, completed: CompletedAnswer, model: str
    ) -> AnswerReport:
        if not completed.text.strip():
            await view.fail(Notice.EMPTY_ANSWER)
            await self._store.record(
                question.key, [user_turn], ConversationState(completed.context_handle, model=model)
            )
            return AnswerReport(Outcome.FAILED, usage=completed.usage)
        await view.complete(completed.text, completed.sources, completed.web_sources)
        assistant_turn = Turn(role="assistant", text=completed.text)
        await self._store.record(
            question.key,
            [user_turn, assistant_turn],
            ConversationState(context_handle=completed.context_handle, carry_over=(), model=model),
        )
        return AnswerReport(Outcome.COMPLETED, usage=completed.usage, shown_chars=len(completed.text))

    async def _remember_partial(
        self, question: Question, state: ConversationState, user_turn: Turn, shown: str
    ) -> None:
        assistant_turn = Turn(role="assistant", text=shown, interrupted=True)
        carry_over = (*state.carry_over, user_turn, assistant_turn)[-MAX_CARRY_OVER_TURNS:]
        await self._store.record(
            question.key,
            [user_turn, assistant_turn],
            ConversationState(context_handle=state.context_handle, carry_over=carry_over, model=state.model),
        )


async def _cancel_when_stopped(stream: AnswerStream, stop: asyncio.Event) -> None:
    """Cancel the provider response as soon as the user asks to stop; ends the delta iteration."""
    await stop.wait()
    await stream.cancel()


def _model_text(question: Question) -> str:
    return labelled(question.text, question.author)


def _notice_for(error: ProviderError) -> Notice:
    if isinstance(error, ProviderUnavailableError):
        return Notice.PROVIDER_UNAVAILABLE
    if error.status == 429:
        return Notice.PROVIDER_BUSY
    if error.retryable:
        return Notice.PROVIDER_UNAVAILABLE
    return Notice.PROVIDER_REJECTED
