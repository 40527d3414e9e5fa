"""The use case at the heart of the product: answer one question in one conversation.

Rules:
- The provider's context is a chain referenced by an opaque handle kept per conversation, and it never
  outgrows the model (bot.core.context): before a request would pass the rollover threshold, after the
  provider refused a prompt's length (then the request is retried once), and when the provider lost
  the chain, the conversation moves into a new chain that starts from a summary of its older turns plus
  the recent ones verbatim. The user sees nothing of this but the answer.
- Provider failures — an HTTP error, or a stream that fails — are retried with backoff only while the
  user has seen nothing; afterwards the partial answer is kept with a note (retrying then would show a
  second, different answer).
- Every provider call, retries included, goes through a circuit breaker (bot.core.breaker): during an
  outage questions fail fast with a notice instead of each one retrying against a dead provider.
- Whatever the user saw is persisted: a stopped, broken or cut-off answer is remembered in the
  transcript and handed to the model with the next question, since the provider's chain does not
  contain it.
- A provider chain is made with one model. When the chat's model is not the chain's any more (the
  chat switched in /settings, or the operator withdrew its model), the conversation rolls over into a
  new chain for that model, as it does when the chain is too full (`Rollover.MODEL_CHANGED`).
- Every answer reports what it cost: the usage the provider reported, or an estimate marked
  approximate when it reported none.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bot.core.breaker import BreakerPolicy, BreakerState, CircuitBreaker, ProviderUnavailableError
from bot.core.context import (
    ContextPolicy,
    ContextRollover,
    chars_to_tokens,
    estimate_tokens,
    learned_limit,
    message_tokens,
    projected_tokens,
    summary_note,
)
from bot.core.errors import (
    ContextLostError,
    PromptTooLongError,
    ProviderError,
    SearchIndexGoneError,
    StreamBrokenError,
)
from bot.core.models import (
    AnswerProfile,
    CompletedAnswer,
    Ending,
    ImageInput,
    Notice,
    Outcome,
    Question,
    Turn,
    Usage,
)
from bot.core.ports import (
    AnswerModel,
    AnswerRequest,
    AnswerStream,
    AnswerView,
    ConversationState,
    ConversationStore,
    SearchScope,
)
from bot.core.references import framed_question, needs_reference

log = logging.getLogger(__name__)


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
    retry: RetryPolicy = RetryPolicy()


class Rollover:
    """Why a conversation moved into a new chain (for metrics)."""

    THRESHOLD = "threshold"
    PROMPT_TOO_LONG = "prompt_too_long"
    CONTEXT_LOST = "context_lost"
    BACKGROUND = "background"
    MODEL_CHANGED = "model_changed"


@dataclass(frozen=True, slots=True)
class AnswerReport:
    outcome: Outcome
    usage: Usage = Usage()
    """What the answer cost, a summary written for it included (approximate when estimated)."""
    shown_chars: int = 0
    rollover_due: bool = False
    """The chain will pass the threshold soon: roll over before the next answer (in the background)."""
    context_handle: str | None = None
    """The chain the answer ended on (what a background rollover must still find)."""
    rollovers: tuple[str, ...] = ()
    """Rollovers this answer made, by reason (`Rollover`)."""


class _Stopped(Exception):
    """The user asked to stop; raised inside the use case only."""


@dataclass
class _Run:
    """One answer in progress: where the conversation stands, and what happened so far."""

    question: Question
    state: ConversationState
    profile: AnswerProfile
    context: tuple[Turn, ...]
    search: SearchScope | None
    index_id: str | None
    asked_at: float = 0.0
    images: tuple[ImageInput, ...] = ()
    """What an image question is about: answered outside the chain, by an image-capable model."""
    received: str = ""
    request: AnswerRequest | None = None
    costs: list[Usage] = field(default_factory=list)
    rollovers: list[str] = field(default_factory=list)
    transient_failures: int = 0
    length_retried: bool = False
    context_recovered: bool = False
    index_rebuilt: bool = False


class AnswerQuestion:
    def __init__(
        self,
        model: AnswerModel,
        store: ConversationStore,
        settings: AnswerSettings,
        breaker: CircuitBreaker | None = None,
        rollover: ContextRollover | None = None,
    ) -> None:
        """`breaker`: shared by every call of this use case; without one the breaker never opens.
        `rollover`: how conversations move into a new chain (default: the default context policy)."""
        self._model = model
        self._store = store
        self._settings = settings
        self._breaker = breaker or CircuitBreaker(BreakerPolicy(failures=0))
        self._rollover = rollover or ContextRollover(model, store, ContextPolicy(), settings.instructions)

    @property
    def policy(self) -> ContextPolicy:
        return self._rollover.policy

    async def execute(
        self,
        question: Question,
        view: AnswerView,
        stop: asyncio.Event,
        search: SearchScope | None = None,
        context: Sequence[Turn] = (),
        profile: AnswerProfile | None = None,
        images: Sequence[ImageInput] = (),
    ) -> AnswerReport:
        """Answer `question` into `view`. `context`: extra turns for the model only (e.g. recent group
        messages that were not addressed to the assistant); they are not added to the transcript.
        `profile`: the chat's model, instructions and web search (default: the operator's).
        `images`: what the question is about; answered by an image-capable model outside the
        provider's chain, the exchange is carried over into the chain with the next question."""
        await view.start()
        asked_at = time.time()
        state = await self._store.load(question.key)
        if question.refers_to is not None and not needs_reference(
            question.refers_to, state, shared_chain=question.key.user_id is None
        ):
            question = replace(question, refers_to=None)  # the model has it: the assistant's own answer
        run = _Run(
            question=question,
            state=state,
            profile=profile or AnswerProfile(self._settings.model, self._settings.instructions),
            context=tuple(context),
            search=search,
            index_id=search.index_id if search else None,
            asked_at=asked_at,
            images=tuple(images),
        )
        user_turn = Turn(role="user", text=_turn_text(question, images), author=question.author)
        try:
            completed = await self._answer(run, view, stop)
        except _Stopped:
            return await self._stopped(run, view, user_turn)
        except ProviderError as error:
            if stop.is_set():
                return await self._stopped(run, view, user_turn)
            return await self._failed(run, view, user_turn, error)
        return await self._finish(run, view, user_turn, completed)

    async def _answer(self, run: _Run, view: AnswerView, stop: asyncio.Event) -> CompletedAnswer:
        """Ask until the provider gives a final answer: roll over when the chain is too full (before
        asking, or once after a refusal of the prompt's length), recover a lost chain or index once,
        retry transient failures while nothing was shown."""
        state = run.state
        # An image question does not touch the chain (its model keeps no context): no rollover for it.
        model_changed = (
            state.context_handle is not None and (state.model or self._settings.model) != run.profile.model
        )
        if not run.images and model_changed:
            log.info("the chat's model changed; rolling over into a new chain")
            await self._roll_over(run, Rollover.MODEL_CHANGED)
            state = run.state
        if (
            not run.images
            and (state.context_handle is not None or state.carry_over)
            and projected_tokens(state, self._request(run)) > self.policy.threshold(state)
        ):
            await self._roll_over(run, Rollover.THRESHOLD)
        while True:
            if stop.is_set():
                raise _Stopped
            request = self._request(run)
            run.request = request
            try:
                return await self._read(run, request, view, stop)
            except SearchIndexGoneError:
                if run.search is None or run.index_rebuilt or run.received:
                    raise
                run.index_rebuilt = True
                log.info("provider lost the document index; rebuilding it")
                run.index_id = await run.search.rebuild()
            except PromptTooLongError:
                if run.length_retried or run.received:
                    raise
                run.length_retried = True
                limit = learned_limit(run.state, projected_tokens(run.state, request))
                log.info("provider refused the prompt's length; rolling over within %d tokens", limit)
                run.state = replace(run.state, context_limit=limit)
                await self._roll_over(run, Rollover.PROMPT_TOO_LONG)
            except ContextLostError:
                if run.context_recovered or run.received:
                    raise
                run.context_recovered = True
                log.info("provider lost the conversation's chain; continuing in a new one")
                await self._roll_over(run, Rollover.CONTEXT_LOST)
            except ProviderError as error:
                run.transient_failures += 1
                if run.received or not error.retryable:
                    raise
                if run.transient_failures >= self._settings.retry.attempts:
                    raise
                if self._breaker.state is BreakerState.OPEN:
                    raise  # this failure opened it: the retry would be refused after the wait anyway
                delay = self._settings.retry.delay(run.transient_failures)
                log.info("provider error (%s), retry %d in %.2fs", error, run.transient_failures, delay)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    continue
                raise _Stopped from None

    async def _roll_over(self, run: _Run, reason: str) -> None:
        chain = await self._rollover.new_chain(run.question.key, run.state, model=run.profile.model)
        run.state = chain.state
        run.rollovers.append(reason)
        if chain.usage is not None:
            run.costs.append(chain.usage)

    async def _read(
        self, run: _Run, request: AnswerRequest, view: AnswerView, stop: asyncio.Event
    ) -> CompletedAnswer:
        """One provider call through the breaker (`ProviderUnavailableError` when it is open): open the
        stream and read it to its final answer, showing the text as it grows."""
        permit = self._breaker.admit()
        try:
            stream = await self._model.start(request)
            completed = await self._read_stream(stream, permit.succeeded, run, view, stop)
            if completed is None:
                raise StreamBrokenError("the answer stream ended without a final response")
            permit.succeeded()
            return completed
        except ProviderError as error:
            if not stop.is_set():
                permit.settle(error)  # a stream dead before any text counts against the provider
            raise
        finally:
            permit.abandoned()  # no verdict yet (stopped, or failed on our side): frees a probe

    async def _read_stream(
        self,
        stream: AnswerStream,
        producing: Callable[[], None],
        run: _Run,
        view: AnswerView,
        stop: asyncio.Event,
    ) -> CompletedAnswer | None:
        """Read the stream in a task of its own. Stop cancels that task wherever it waits (a slow
        model, a long pause) and only then is the stream closed: never under its reader's feet."""

        async def read() -> None:
            async for delta in stream.deltas():
                producing()  # the provider is producing text
                run.received += delta
                view.show(run.received)

        reader = asyncio.create_task(read(), name="answer-stream")
        stopping = asyncio.create_task(stop.wait(), name="answer-stop")
        try:
            await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, stopping):
                task.cancel()
            await asyncio.gather(reader, stopping, return_exceptions=True)
            await stream.close()
        if stop.is_set():
            raise _Stopped
        failure = reader.exception()
        if failure is not None:
            raise failure
        return stream.result

    def _request(self, run: _Run) -> AnswerRequest:
        state = run.state
        new_chain = state.context_handle is None
        return AnswerRequest(
            text=_model_text(run.question),
            instructions=run.profile.instructions,
            context_handle=state.context_handle,
            summary=summary_note(state.summary) if new_chain and state.summary else None,
            replay=(*state.carry_over, *run.context),
            search_index=run.index_id,
            images=run.images,
            model=run.profile.model,
            web_search=run.profile.web_search,
        )

    async def _stopped(self, run: _Run, view: AnswerView, user_turn: Turn) -> AnswerReport:
        shown = view.shown_text
        await view.interrupt(shown, Notice.ANSWER_STOPPED)
        await self._remember_partial(run, user_turn, shown)
        return self._report(run, Outcome.STOPPED, self._estimate(run, shown), shown_chars=len(shown))

    async def _failed(
        self, run: _Run, view: AnswerView, user_turn: Turn, error: ProviderError
    ) -> AnswerReport:
        received = run.received
        if received:
            log.warning("answer stream broke after %d chars: %s", len(received), error)
            await view.interrupt(received, Notice.ANSWER_INTERRUPTED)
            await self._remember_partial(run, user_turn, received)
            usage = self._estimate(run, received)
            return self._report(run, Outcome.INTERRUPTED, usage, shown_chars=len(received))
        if isinstance(error, ProviderUnavailableError):
            log.info("answer refused without calling the provider: %s", error)
        else:
            log.warning("answer failed before any text: %s", error)
        await view.fail(_notice_for(error))
        await self._store.record(run.question.key, [user_turn], run.state)
        return self._report(run, Outcome.FAILED, Usage())

    async def _finish(
        self, run: _Run, view: AnswerView, user_turn: Turn, completed: CompletedAnswer
    ) -> AnswerReport:
        text = completed.text
        usage = completed.usage or self._estimate(run, text, completed.retrieved_chars)
        if completed.ending is Ending.DECLINED or (completed.ending is Ending.CUT_BY_LENGTH and text.strip()):
            cut = completed.ending is Ending.CUT_BY_LENGTH
            log.info("the model %s the answer", "cut off" if cut else "declined")
            outcome = Outcome.TRUNCATED if cut else Outcome.DECLINED
            if text.strip():
                await view.interrupt(
                    text, Notice.ANSWER_CUT_OFF if cut else Notice.MODEL_DECLINED_TO_CONTINUE
                )
                await self._remember_partial(run, user_turn, text)
                return self._report(run, outcome, usage, shown_chars=len(text))
            await view.fail(Notice.MODEL_DECLINED)
            await self._store.record(run.question.key, [user_turn], run.state)
            return self._report(run, outcome, usage)
        if not text.strip():
            await view.fail(Notice.EMPTY_ANSWER)
            await self._store.record(run.question.key, [user_turn], run.state)
            return self._report(run, Outcome.FAILED, usage)
        assistant_turn = Turn(role="assistant", text=text)
        if completed.context_handle is None:
            # A model without a chain of its own (an image question): the chain never saw this exchange,
            # so it goes with the next question, like a stopped answer.
            carried = self._rollover.carried((*run.state.carry_over, user_turn, assistant_turn), run.state)
            state = replace(run.state, carry_over=carried)
        else:
            state = replace(
                run.state,
                context_handle=completed.context_handle,
                carry_over=(),
                context_tokens=usage.input_tokens + usage.output_tokens,
                model=run.profile.model,
                chain_started_at=_chain_start(run),
            )
        # Recorded before it is shown: once the user sees the answer, /history and the next question
        # (also one asked in a group that has just become a supergroup) find it in the conversation.
        await self._store.record(run.question.key, [user_turn, assistant_turn], state)
        await view.complete(text, completed.sources, [source.url for source in completed.web_sources])
        if completed.context_handle is None:
            return self._report(run, Outcome.COMPLETED, usage, shown_chars=len(text))
        # Due when one more exchange like this one would pass the threshold.
        growth = message_tokens(run.question.text) + usage.output_tokens
        due = state.context_handle is not None and (
            state.context_tokens + growth >= self.policy.threshold(state)
        )
        return self._report(
            run,
            Outcome.COMPLETED,
            usage,
            shown_chars=len(text),
            rollover_due=due,
            context_handle=state.context_handle,
        )

    def _estimate(self, run: _Run, output: str, retrieved_chars: int = 0) -> Usage:
        """The provider reported nothing: what the request and its answer cost, estimated."""
        if run.request is None:
            return Usage()
        input_tokens = projected_tokens(run.state, run.request) + chars_to_tokens(retrieved_chars)
        return Usage(input_tokens, estimate_tokens(output), approximate=True)

    def _report(
        self,
        run: _Run,
        outcome: Outcome,
        usage: Usage,
        *,
        shown_chars: int = 0,
        rollover_due: bool = False,
        context_handle: str | None = None,
    ) -> AnswerReport:
        total = usage
        for cost in run.costs:
            total = Usage(
                total.input_tokens + cost.input_tokens,
                total.output_tokens + cost.output_tokens,
                approximate=total.approximate or cost.approximate,
            )
        return AnswerReport(
            outcome,
            usage=total,
            shown_chars=shown_chars,
            rollover_due=rollover_due,
            context_handle=context_handle,
            rollovers=tuple(run.rollovers),
        )

    async def _remember_partial(self, run: _Run, user_turn: Turn, shown: str) -> None:
        """The chain does not hold what the user saw: carry it over to the next question."""
        assistant_turn = Turn(role="assistant", text=shown, interrupted=True)
        carried = self._rollover.carried((*run.state.carry_over, user_turn, assistant_turn), run.state)
        await self._store.record(
            run.question.key, [user_turn, assistant_turn], replace(run.state, carry_over=carried)
        )


def _model_text(question: Question) -> str:
    return framed_question(question)


def _turn_text(question: Question, images: Sequence[ImageInput]) -> str:
    """The question as the transcript keeps it; images are named, not stored."""
    if not images:
        return question.text
    return f"[{', '.join(image.name for image in images)}] {question.text}"


def _chain_start(run: _Run) -> float:
    """When the chain the answer continued was started: at this question, for a new chain."""
    request, started = run.request, run.state.chain_started_at
    if request is not None and request.context_handle is not None and started is not None:
        return started
    return run.asked_at


def _notice_for(error: ProviderError) -> Notice:
    if isinstance(error, ProviderUnavailableError):
        return Notice.PROVIDER_UNAVAILABLE
    if isinstance(error, PromptTooLongError):
        return Notice.PROMPT_TOO_LONG
    if error.status == 429:
        return Notice.PROVIDER_BUSY
    if error.retryable:
        return Notice.PROVIDER_UNAVAILABLE
    return Notice.PROVIDER_REJECTED
