"""The answer use case against hand-written fakes of its ports."""

from __future__ import annotations

import asyncio
import time

from bot.core.answering import DEFAULT_MODEL, AnswerQuestion, AnswerSettings, RetryPolicy
from bot.core.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from bot.core.context import ContextPolicy, ContextRollover
from bot.core.errors import ContextLostError, ProviderError, StreamBrokenError
from bot.core.models import CompletedAnswer, ConversationKey, Notice, Outcome, Question, Turn
from bot.core.ports import ConversationState
from tests.support.waiting import wait_until
from tests.unit.fakes import InMemoryConversationStore, RecordingView, ScriptedModel, ScriptedStream

KEY = ConversationKey(chat_id=42)
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)


POLICY = ContextPolicy(context_tokens=32_768, recent_turns=4)


def make(
    model: ScriptedModel,
    store: InMemoryConversationStore | None = None,
    breaker: CircuitBreaker | None = None,
    policy: ContextPolicy = POLICY,
) -> AnswerQuestion:
    store = store or InMemoryConversationStore()
    rollover = ContextRollover(model, store, policy, "be brief")
    return AnswerQuestion(
        model, store, AnswerSettings(instructions="be brief", retry=FAST_RETRY), breaker, rollover
    )


def state(circuit: CircuitBreaker) -> BreakerState:
    """Read through a call, so mypy does not narrow the property across the calls in between."""
    return circuit.state


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(failures: int, clock: FakeClock | None = None) -> CircuitBreaker:
    return CircuitBreaker(BreakerPolicy(failures=failures, cooldown=10.0), clock or FakeClock())


def unavailable() -> ProviderError:
    return ProviderError("503", retryable=True, status=503)


def completed(text: str, handle: str = "resp-1", sources: tuple[str, ...] = ()) -> CompletedAnswer:
    return CompletedAnswer(text=text, context_handle=handle, sources=sources)


async def test_completed_answer_is_streamed_shown_and_remembered() -> None:
    store = InMemoryConversationStore()
    model = ScriptedModel([ScriptedStream(["Hel", "lo"], completed("Hello", sources=("a.md",)))])
    view = RecordingView()
    asked_at = time.time()
    report = await make(model, store).execute(Question(KEY, "hi"), view, asyncio.Event())

    assert report.outcome is Outcome.COMPLETED
    assert view.started
    assert view.frames == ["Hel", "Hello"]
    assert view.events == [("complete", "Hello|a.md")]
    assert store.states[KEY].context_handle == "resp-1" and store.states[KEY].carry_over == ()
    assert store.states[KEY].model == DEFAULT_MODEL, "the chain's model is recorded"
    # A new chain starts with this question.
    started = store.states[KEY].chain_started_at
    assert started is not None and asked_at <= started <= time.time()
    assert [(t.role, t.text) for t in store.turns[KEY]] == [("user", "hi"), ("assistant", "Hello")]
    assert model.requests[0].context_handle is None
    assert model.requests[0].instructions == "be brief"


async def test_next_question_continues_the_provider_chain() -> None:
    store = InMemoryConversationStore()
    store.states[KEY] = ConversationState(context_handle="resp-7")
    model = ScriptedModel([ScriptedStream(["ok"], completed("ok", handle="resp-8"))])
    await make(model, store).execute(Question(KEY, "again"), RecordingView(), asyncio.Event())
    assert model.requests[0].context_handle == "resp-7"
    assert store.states[KEY].context_handle == "resp-8"


async def test_lost_context_continues_in_a_new_chain_from_a_summary_and_the_recent_turns() -> None:
    store = InMemoryConversationStore()
    store.states[KEY] = ConversationState(context_handle="expired")
    store.turns[KEY] = [
        Turn("user", f"q{i}", at=i + 1) if i % 2 == 0 else Turn("assistant", f"a{i}", at=i + 1)
        for i in range(10)
    ]
    model = ScriptedModel(
        [ContextLostError("gone"), ScriptedStream(["x"], completed("x", handle="fresh"))],
        completions=[completed("They talked about q0 to a5.", handle="summary-1")],
    )
    view = RecordingView()
    report = await make(model, store).execute(Question(KEY, "next"), view, asyncio.Event())

    assert report.outcome is Outcome.COMPLETED and view.events == [("complete", "x|")]
    assert report.rollovers == ("context_lost",)
    [summary_request] = model.completion_requests
    assert "q0" in summary_request.text and "a5" in summary_request.text and "q6" not in summary_request.text
    retried = model.requests[1]
    assert retried.context_handle is None
    assert retried.summary is not None and "They talked about q0 to a5." in retried.summary
    assert [t.text for t in retried.replay] == ["q6", "a7", "q8", "a9"]  # at most recent_turns turns
    state = store.states[KEY]
    assert state.context_handle == "fresh" and state.carry_over == ()
    assert state.summary == "They talked about q0 to a5." and state.summarized_until == 6  # a5's time


async def test_transient_errors_are_retried_while_nothing_was_shown() -> None:
    model = ScriptedModel(
        [
            ProviderError("503", retryable=True, status=503),
            ProviderError("429", retryable=True, status=429),
            ScriptedStream(["fine"], completed("fine")),
        ]
    )
    view = RecordingView()
    report = await make(model).execute(Question(KEY, "q"), view, asyncio.Event())
    assert report.outcome is Outcome.COMPLETED
    assert len(model.requests) == 3


async def test_persistent_errors_end_with_a_short_notice() -> None:
    model = ScriptedModel([ProviderError("429", retryable=True, status=429) for _ in range(3)])
    view = RecordingView()
    store = InMemoryConversationStore()
    report = await make(model, store).execute(Question(KEY, "q"), view, asyncio.Event())
    assert report.outcome is Outcome.FAILED
    assert view.events == [(f"fail:{Notice.PROVIDER_BUSY}", "")]
    assert store.states[KEY].context_handle is None


async def test_rejected_requests_are_not_retried() -> None:
    model = ScriptedModel([ProviderError("400", retryable=False, status=400)])
    view = RecordingView()
    await make(model).execute(Question(KEY, "q"), view, asyncio.Event())
    assert view.events == [(f"fail:{Notice.PROVIDER_REJECTED}", "")]
    assert len(model.requests) == 1


async def test_a_broken_stream_keeps_the_partial_answer_and_carries_it_over() -> None:
    store = InMemoryConversationStore()
    store.states[KEY] = ConversationState(context_handle="resp-1")
    broken = ScriptedStream(["Part one. ", "Part two"], None, break_with=StreamBrokenError("mid"))
    model = ScriptedModel([broken])
    view = RecordingView()
    report = await make(model, store).execute(Question(KEY, "q"), view, asyncio.Event())

    assert report.outcome is Outcome.INTERRUPTED
    assert view.events == [(f"interrupt:{Notice.ANSWER_INTERRUPTED}", "Part one. Part two")]
    state = store.states[KEY]
    assert state.context_handle == "resp-1"  # the broken response is not a chain point
    assert [(t.role, t.text, t.interrupted) for t in state.carry_over] == [
        ("user", "q", False),
        ("assistant", "Part one. Part two", True),
    ]
    # The next question hands the interrupted exchange to the model explicitly.
    model.outcomes.append(ScriptedStream(["ok"], completed("ok", handle="resp-2")))
    await make(model, store).execute(Question(KEY, "continue"), RecordingView(), asyncio.Event())
    assert [t.text for t in model.requests[1].replay] == ["q", "Part one. Part two"]
    assert store.states[KEY].carry_over == ()


async def test_stop_cancels_the_provider_and_keeps_what_was_shown() -> None:
    store = InMemoryConversationStore()
    stream = ScriptedStream(["Shown ", "text"], None, hang_after=True)
    model = ScriptedModel([stream])
    view = RecordingView()
    stop = asyncio.Event()
    task = asyncio.create_task(make(model, store).execute(Question(KEY, "q"), view, stop))
    await wait_until(lambda: view.shown_text == "Shown text", what="the text shown")
    stop.set()
    report = await asyncio.wait_for(task, timeout=1)

    assert report.outcome is Outcome.STOPPED
    assert stream.reader_cancelled and stream.closed
    assert not stream.closed_while_reading, "the stream is closed only once its reader has stopped"
    assert view.events == [(f"interrupt:{Notice.ANSWER_STOPPED}", "Shown text")]
    assert store.turns[KEY][-1].text == "Shown text"
    assert store.turns[KEY][-1].interrupted


async def test_group_questions_tell_the_model_who_asked() -> None:
    model = ScriptedModel([ScriptedStream(["ok"], completed("ok"))])
    store = InMemoryConversationStore()
    await make(model, store).execute(
        Question(KEY, "what time?", author="Ann"), RecordingView(), asyncio.Event()
    )
    assert model.requests[0].text == "⟦author: Ann⟧\nwhat time?"
    assert store.turns[KEY][0].text == "what time?"
    assert store.turns[KEY][0].author == "Ann"


async def test_retries_count_against_the_breaker_and_stop_once_it_opens() -> None:
    circuit = breaker(failures=2)
    model = ScriptedModel([unavailable() for _ in range(3)])
    view = RecordingView()
    report = await make(model, breaker=circuit).execute(Question(KEY, "q"), view, asyncio.Event())
    assert report.outcome is Outcome.FAILED
    assert len(model.requests) == 2, "the third attempt is not made: the breaker opened"
    assert view.events == [(f"fail:{Notice.PROVIDER_UNAVAILABLE}", "")]
    assert state(circuit) is BreakerState.OPEN


async def test_an_open_breaker_answers_at_once_without_calling_the_provider() -> None:
    circuit = breaker(failures=1)
    circuit.admit().failed()
    store = InMemoryConversationStore()
    model = ScriptedModel([ScriptedStream(["never"], completed("never"))])
    view = RecordingView()
    report = await make(model, store, circuit).execute(Question(KEY, "q"), view, asyncio.Event())
    assert report.outcome is Outcome.FAILED
    assert model.requests == []
    assert view.events == [(f"fail:{Notice.PROVIDER_UNAVAILABLE}", "")]
    assert [t.text for t in store.turns[KEY]] == ["q"], "the question stays in the transcript"


async def test_after_the_cooldown_one_probe_goes_through_and_closes_the_breaker() -> None:
    clock = FakeClock()
    circuit = breaker(failures=1, clock=clock)
    circuit.admit().failed()
    clock.now += 10
    # The probe's stream is slow to produce text: meanwhile other questions are still refused.
    probe = ScriptedStream([], None, hang_after=True)
    model = ScriptedModel([probe, ScriptedStream(["back"], completed("back"))])
    stop_probe = asyncio.Event()
    probing = asyncio.create_task(
        make(model, breaker=circuit).execute(Question(KEY, "probe"), RecordingView(), stop_probe)
    )
    await wait_until(lambda: bool(model.requests), what="the probe's request")
    other = RecordingView()
    await make(model, breaker=circuit).execute(
        Question(ConversationKey(chat_id=7), "meanwhile"), other, asyncio.Event()
    )
    assert other.events == [(f"fail:{Notice.PROVIDER_UNAVAILABLE}", "")]
    assert len(model.requests) == 1
    # A stopped probe gives no verdict: the next question probes, and its answer closes the breaker.
    stop_probe.set()
    assert (await asyncio.wait_for(probing, timeout=1)).outcome is Outcome.STOPPED
    assert state(circuit) is BreakerState.HALF_OPEN
    view = RecordingView()
    report = await make(model, breaker=circuit).execute(Question(KEY, "again"), view, asyncio.Event())
    assert report.outcome is Outcome.COMPLETED
    assert state(circuit) is BreakerState.CLOSED


async def test_a_failed_probe_reopens_the_breaker() -> None:
    clock = FakeClock()
    circuit = breaker(failures=1, clock=clock)
    circuit.admit().failed()
    clock.now += 10
    model = ScriptedModel([unavailable(), ScriptedStream(["x"], completed("x"))])
    view = RecordingView()
    await make(model, breaker=circuit).execute(Question(KEY, "q"), view, asyncio.Event())
    assert len(model.requests) == 1, "no retry against a provider the probe found down"
    assert view.events == [(f"fail:{Notice.PROVIDER_UNAVAILABLE}", "")]
    assert state(circuit) is BreakerState.OPEN


async def test_a_stream_dying_before_any_text_counts_as_a_failure_after_text_it_does_not() -> None:
    circuit = breaker(failures=1)
    early = ScriptedStream([], None, break_with=StreamBrokenError("timeout before the first delta"))
    await make(ScriptedModel([early]), breaker=circuit).execute(
        Question(KEY, "q"), RecordingView(), asyncio.Event()
    )
    assert state(circuit) is BreakerState.OPEN

    circuit = breaker(failures=1)
    late = ScriptedStream(["Part"], None, break_with=StreamBrokenError("mid"))
    view = RecordingView()
    await make(ScriptedModel([late]), breaker=circuit).execute(Question(KEY, "q"), view, asyncio.Event())
    assert view.events == [(f"interrupt:{Notice.ANSWER_INTERRUPTED}", "Part")]
    assert state(circuit) is BreakerState.CLOSED


async def test_rejections_and_a_lost_context_do_not_open_the_breaker() -> None:
    circuit = breaker(failures=1)
    store = InMemoryConversationStore()
    store.states[KEY] = ConversationState(context_handle="expired")
    model = ScriptedModel(
        [
            ProviderError("400", retryable=False, status=400),
            ContextLostError("gone"),
            ScriptedStream(["ok"], completed("ok")),
        ]
    )
    await make(model, store, circuit).execute(Question(KEY, "bad"), RecordingView(), asyncio.Event())
    assert state(circuit) is BreakerState.CLOSED
    report = await make(model, store, circuit).execute(Question(KEY, "q"), RecordingView(), asyncio.Event())
    assert report.outcome is Outcome.COMPLETED
    assert state(circuit) is BreakerState.CLOSED
