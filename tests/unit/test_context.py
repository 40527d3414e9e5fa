"""Context accounting and rollovers: the answer use case and the rollover operation against fakes."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bot.core.answering import AnswerQuestion, AnswerSettings, RetryPolicy
from bot.core.context import (
    ContextPolicy,
    ContextRollover,
    documented_context_tokens,
    estimate_tokens,
    projected_tokens,
)
from bot.core.errors import PromptTooLongError, ProviderError, StreamBrokenError
from bot.core.models import CompletedAnswer, ConversationKey, Ending, Notice, Outcome, Question, Turn, Usage
from bot.core.ports import AnswerRequest, ConversationState
from tests.support.waiting import wait_until
from tests.unit.fakes import InMemoryConversationStore, RecordingView, ScriptedModel, ScriptedStream

KEY = ConversationKey(chat_id=7)
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)
# A small model: threshold 750 tokens, recent turns within 200 tokens (about 600 characters).
SMALL = ContextPolicy(context_tokens=1000, rollover_percent=75, recent_percent=20, recent_turns=20)


def make(
    model: ScriptedModel, store: InMemoryConversationStore, policy: ContextPolicy = SMALL
) -> tuple[AnswerQuestion, ContextRollover]:
    rollover = ContextRollover(model, store, policy, "be brief")
    settings = AnswerSettings(instructions="be brief", retry=FAST_RETRY)
    return AnswerQuestion(model, store, settings, rollover=rollover), rollover


def answer(
    text: str, handle: str, usage: Usage | None = None, ending: Ending = Ending.COMPLETED
) -> CompletedAnswer:
    return CompletedAnswer(text=text, context_handle=handle, usage=usage, ending=ending)


def conversation(store: InMemoryConversationStore, exchanges: int, *, chars: int = 60) -> None:
    """`exchanges` question/answer pairs in the transcript, times 1, 2, …"""
    turns: list[Turn] = []
    for n in range(exchanges):
        turns.append(Turn("user", f"q{n} " + "x" * chars, at=2 * n + 1))
        turns.append(Turn("assistant", f"a{n} " + "y" * chars, at=2 * n + 2))
    store.turns[KEY] = turns


async def ask(use_case: AnswerQuestion, text: str = "next?") -> tuple[RecordingView, Outcome, Usage]:
    view = RecordingView()
    report = await use_case.execute(Question(KEY, text), view, asyncio.Event())
    return view, report.outcome, report.usage


def test_documented_context_sizes_follow_yandex_models_page() -> None:
    assert documented_context_tokens("yandexgpt/latest") == 32_768
    assert documented_context_tokens("yandexgpt-lite") == 32_768
    assert documented_context_tokens("yandexgpt-lite/latest@tuned42") == 32_768
    assert documented_context_tokens("aliceai-llm") == 32_768
    assert documented_context_tokens("gpt://b1gfolder/qwen3-235b-a22b-fp8/latest") == 262_144
    assert documented_context_tokens("gpt-oss-20b/latest") == 131_072
    assert documented_context_tokens("gemma-3-27b-it/latest") == 131_072
    assert documented_context_tokens("some-future-model/latest") == 32_768


def test_projection_counts_the_chain_or_what_starts_a_new_one() -> None:
    chained = ConversationState(context_handle="r1", context_tokens=500)
    request = AnswerRequest(text="x" * 30, instructions="i" * 300, context_handle="r1")
    assert projected_tokens(chained, request) == 500 + 10 + 4  # the instructions are in the chain's count
    fresh = AnswerRequest(
        text="x" * 30, instructions="i" * 300, summary="s" * 60, replay=(Turn("user", "u" * 9),)
    )
    assert projected_tokens(ConversationState(), fresh) == 100 + (20 + 4) + (3 + 4) + (10 + 4)
    assert estimate_tokens("абвгде") == 2 and estimate_tokens("") == 0


async def test_a_full_chain_rolls_over_before_the_request_and_the_user_sees_only_the_answer() -> None:
    store = InMemoryConversationStore()
    conversation(store, 6)
    store.states[KEY] = ConversationState(context_handle="r6", context_tokens=740)
    model = ScriptedModel(
        [ScriptedStream(["fine"], answer("fine", "r7", Usage(300, 5)))],
        completions=[answer("Earlier: q0, q1 and their answers.", "s1", Usage(200, 20))],
    )
    use_case, _ = make(model, store)
    view, outcome, usage = await ask(use_case, "next question " + "z" * 30)

    assert outcome is Outcome.COMPLETED and view.events == [("complete", "fine|")]
    [request] = model.requests
    assert request.context_handle is None
    assert request.summary is not None and "Earlier: q0, q1" in request.summary
    # The newest turns within 20 % of the context (25 tokens each), opening with a question.
    assert [t.text[:2] for t in request.replay] == ["q2", "a2", "q3", "a3", "q4", "a4", "q5", "a5"]
    [summary_request] = model.completion_requests
    assert "q0" in summary_request.text and "a1" in summary_request.text and "q2" not in summary_request.text
    assert summary_request.max_output_tokens == 100  # a tenth of the context
    state = store.states[KEY]
    assert (state.context_handle, state.summary, state.summarized_until) == (
        "r7",
        summary_request_summary(),
        4,
    )
    assert state.context_tokens == 305
    assert usage == Usage(300 + 200, 5 + 20), "the summary's cost is the answer's"
    assert [t.text for t in store.turns[KEY][-2:]] == ["next question " + "z" * 30, "fine"], (
        "the transcript keeps all"
    )


def summary_request_summary() -> str:
    return "Earlier: q0, q1 and their answers."


async def test_a_second_rollover_folds_the_previous_summary_in() -> None:
    store = InMemoryConversationStore()
    conversation(store, 8)
    store.states[KEY] = ConversationState(
        context_handle="r8", context_tokens=760, summary="Very early: greetings.", summarized_until=4
    )
    model = ScriptedModel(
        [ScriptedStream(["ok"], answer("ok", "r9", Usage(200, 2)))],
        completions=[answer("Greetings, then q2..q5.", "s2", Usage(100, 10))],
    )
    use_case, _ = make(model, store)
    await ask(use_case)
    [summary_request] = model.completion_requests
    assert summary_request.text.startswith("Summary so far:\nVery early: greetings.")
    assert "q1" not in summary_request.text, "turns already summarized are not summarized again"
    assert "q2" in summary_request.text
    assert store.states[KEY].summary == "Greetings, then q2..q5."


async def test_a_refused_prompt_length_rolls_over_once_within_what_was_refused() -> None:
    store = InMemoryConversationStore()
    conversation(store, 20)
    # The bot believes in a large context; the provider's is much smaller.
    store.states[KEY] = ConversationState(context_handle="r6", context_tokens=2000)
    model = ScriptedModel(
        [PromptTooLongError("400"), ScriptedStream(["there"], answer("there", "r7", Usage(400, 2)))],
        completions=[answer("Summary.", "s1", Usage(100, 5))],
    )
    use_case, _ = make(model, store, ContextPolicy(context_tokens=32_768))
    view, outcome, _ = await ask(use_case)

    assert outcome is Outcome.COMPLETED and view.events == [("complete", "there|")]
    retried = model.requests[1]
    assert retried.context_handle is None and retried.summary is not None
    state = store.states[KEY]
    assert 2000 <= state.context_limit < 2100, "learned: the context is below what was refused"
    assert sum(len(t.text) for t in retried.replay) <= state.context_limit * 20 // 100 * 3


async def test_a_second_length_refusal_tells_the_user_and_keeps_the_new_chain() -> None:
    store = InMemoryConversationStore()
    conversation(store, 3)
    store.states[KEY] = ConversationState(context_handle="r3", context_tokens=900)
    model = ScriptedModel(
        [PromptTooLongError("400"), PromptTooLongError("400 again")],
        completions=[answer("Summary.", "s1")],
    )
    use_case, _ = make(model, store)
    view, outcome, _ = await ask(use_case, "huge " * 500)
    assert outcome is Outcome.FAILED
    assert view.events == [(f"fail:{Notice.PROMPT_TOO_LONG}", "")]
    assert len(model.requests) == 2, "retried once, not more"
    assert store.states[KEY].context_handle is None, "the next question starts from the new chain"


async def test_when_the_summary_cannot_be_written_the_answer_still_comes() -> None:
    store = InMemoryConversationStore()
    conversation(store, 6)
    store.states[KEY] = ConversationState(
        context_handle="r6", context_tokens=745, summary="Old summary.", summarized_until=0.5
    )
    model = ScriptedModel(
        [ScriptedStream(["ok"], answer("ok", "r7", Usage(250, 1)))],
        completions=[ProviderError("503", retryable=True, status=503)],
    )
    use_case, _ = make(model, store)
    view, outcome, _ = await ask(use_case)
    assert view.events == [("complete", "ok|")]
    assert outcome is Outcome.COMPLETED
    [request] = model.requests
    assert (
        request.context_handle is None and request.summary is not None and "Old summary." in request.summary
    )
    state = store.states[KEY]
    assert state.summary == "Old summary." and state.summarized_until == 0.5, (
        "older turns wait for the next one"
    )


async def test_an_answer_that_brings_the_chain_near_the_threshold_asks_for_a_background_rollover() -> None:
    store = InMemoryConversationStore()
    conversation(store, 6)
    store.states[KEY] = ConversationState(context_handle="r6", context_tokens=500)
    model = ScriptedModel(
        [
            ScriptedStream(["a"], answer("a", "r7", Usage(520, 10))),
            ScriptedStream(["b"], answer("b", "r8", Usage(600, 150))),
        ]
    )
    use_case, rollover = make(model, store)
    first = await use_case.execute(Question(KEY, "short"), RecordingView(), asyncio.Event())
    assert not first.rollover_due, "one more such exchange stays below 750"
    second = await use_case.execute(Question(KEY, "short"), RecordingView(), asyncio.Event())
    assert second.rollover_due and second.context_handle == "r8"

    model.completions.append(answer("Summary of it all.", "s1", None))
    chain = await rollover.in_background(KEY, "r8")
    assert chain is not None and chain.summarized
    assert chain.usage is not None and chain.usage.approximate, "no usage reported: estimated"
    state = store.states[KEY]
    assert state.context_handle is None and state.summary == "Summary of it all." and state.carry_over
    # Run again (a replica died after saving it): the chain moved on, nothing happens.
    assert await rollover.in_background(KEY, "r8") is None


async def test_a_background_rollover_never_overwrites_a_reset_or_a_newer_chain() -> None:
    store = InMemoryConversationStore()
    conversation(store, 6)
    store.states[KEY] = ConversationState(context_handle="r6", context_tokens=700)
    model = ScriptedModel([], completions=[answer("S.", "s1"), answer("S.", "s2")])
    _, rollover = make(model, store)

    async def reset_meanwhile() -> None:
        await store.reset(KEY)

    original = model.complete

    async def complete_then_reset(request):  # type: ignore[no-untyped-def]
        result = await original(request)
        await reset_meanwhile()
        return result

    model.complete = complete_then_reset  # type: ignore[method-assign]
    assert await rollover.in_background(KEY, "r6") is None
    assert KEY not in store.states, "/new during the summary wins"

    store.states[KEY] = ConversationState(context_handle="r9", context_tokens=700)
    assert await rollover.in_background(KEY, "r6") is None, "an older rollover job finds a newer chain"
    assert store.states[KEY].context_handle == "r9"


async def test_without_reported_usage_the_cost_and_the_fill_are_estimated() -> None:
    store = InMemoryConversationStore()
    model = ScriptedModel([ScriptedStream(["x" * 300], answer("x" * 300, "r1", None))])
    use_case, _ = make(model, store)
    _, outcome, usage = await ask(use_case, "q" * 30)
    assert outcome is Outcome.COMPLETED
    assert usage.approximate
    assert usage.input_tokens == estimate_tokens("be brief") + 10 + 4 and usage.output_tokens == 100
    assert store.states[KEY].context_tokens == usage.total_tokens


@pytest.mark.parametrize(
    ("ending", "text", "events", "outcome"),
    [
        (
            Ending.CUT_BY_LENGTH,
            "Half an ans",
            [(f"interrupt:{Notice.ANSWER_CUT_OFF}", "Half an ans")],
            Outcome.TRUNCATED,
        ),
        (Ending.DECLINED, "", [(f"fail:{Notice.MODEL_DECLINED}", "")], Outcome.DECLINED),
        (
            Ending.DECLINED,
            "Some te",
            [(f"interrupt:{Notice.MODEL_DECLINED_TO_CONTINUE}", "Some te")],
            Outcome.DECLINED,
        ),
    ],
)
async def test_incomplete_answers_end_with_a_clear_note(
    ending: Ending, text: str, events: list[tuple[str, str]], outcome: Outcome
) -> None:
    store = InMemoryConversationStore()
    store.states[KEY] = ConversationState(context_handle="r1", context_tokens=10)
    model = ScriptedModel([ScriptedStream([text] if text else [], answer(text, "r2", Usage(20, 3), ending))])
    use_case, _ = make(model, store)
    view, got, usage = await ask(use_case)
    assert (view.events, got, usage) == (events, outcome, Usage(20, 3))
    state = store.states[KEY]
    assert state.context_handle == "r1", "an incomplete response is not a chain point"
    # What was shown is carried into the chain's next request; a declined answer showed nothing.
    carried = [("user", "next?"), ("assistant", text)] if text else []
    assert [(t.role, t.text) for t in state.carry_over] == carried


async def test_a_stream_that_fails_before_any_text_is_retried() -> None:
    store = InMemoryConversationStore()
    model = ScriptedModel(
        [
            ScriptedStream([], None, break_with=StreamBrokenError("response.failed")),
            ScriptedStream([], None),  # ended without a final response
            ScriptedStream(["fine"], answer("fine", "r1", Usage(5, 1))),
        ]
    )
    use_case, _ = make(model, store)
    view, outcome, _ = await ask(use_case)
    assert outcome is Outcome.COMPLETED and view.events == [("complete", "fine|")]
    assert len(model.requests) == 3


async def test_a_stopped_answer_is_carried_within_the_recent_budget() -> None:
    store = InMemoryConversationStore()
    big = tuple(Turn("user" if n % 2 == 0 else "assistant", "w" * 150, at=n + 1) for n in range(8))
    store.states[KEY] = ConversationState(context_handle="r1", carry_over=big, context_tokens=10)
    model = ScriptedModel([ScriptedStream(["partial"], None, hang_after=True)])
    use_case, _ = make(
        model, store, ContextPolicy(context_tokens=20_000, rollover_percent=75, recent_percent=1)
    )
    stop = asyncio.Event()
    view = RecordingView()
    task = asyncio.create_task(use_case.execute(Question(KEY, "q"), view, stop))
    await wait_until(lambda: view.shown_text == "partial", what="the partial text shown")
    stop.set()
    report = await asyncio.wait_for(task, timeout=1)
    assert report.outcome is Outcome.STOPPED and report.usage.approximate
    carried = store.states[KEY].carry_over
    assert [t.text for t in carried[-2:]] == ["q", "partial"], "the exchange just shown is always carried"
    assert len(carried) < len(big) + 2


async def test_older_turns_too_many_for_one_summary_request_are_folded_in_by_several() -> None:
    store = InMemoryConversationStore()
    conversation(store, 10, chars=150)  # 20 turns of about 55 tokens; one request takes about 6
    store.states[KEY] = ConversationState(context_handle="r16", context_tokens=760)
    model = ScriptedModel(
        [ScriptedStream(["ok"], answer("ok", "r17", Usage(300, 1)))],
        completions=[answer(f"Summary {n}.", f"s{n}", Usage(100, 10)) for n in range(1, 5)],
    )
    use_case, _ = make(model, store)
    _, outcome, usage = await ask(use_case)
    assert outcome is Outcome.COMPLETED
    passes = model.completion_requests
    assert len(passes) >= 2
    assert "q0 " in passes[0].text and not passes[0].text.startswith("Summary so far")
    for earlier, later in itertools.pairwise(passes):
        assert later.text.startswith("Summary so far:\nSummary ")
        assert earlier.text != later.text
    assert all(
        estimate_tokens(p.instructions) + estimate_tokens(p.text) <= SMALL.context_tokens // 2 for p in passes
    )
    assert store.states[KEY].summary == f"Summary {len(passes)}."
    assert usage.input_tokens == 300 + 100 * len(passes)


async def test_a_failed_summary_pass_keeps_the_old_summary_and_its_turns_for_later() -> None:
    store = InMemoryConversationStore()
    conversation(store, 16, chars=150)
    store.states[KEY] = ConversationState(
        context_handle="r16", context_tokens=760, summary="Before.", summarized_until=0.5
    )
    model = ScriptedModel(
        [ScriptedStream(["ok"], answer("ok", "r17", Usage(300, 1)))],
        completions=[answer("Half.", "s1", Usage(100, 10)), ProviderError("503", retryable=True, status=503)],
    )
    use_case, _ = make(model, store)
    _, outcome, usage = await ask(use_case)
    assert outcome is Outcome.COMPLETED
    state = store.states[KEY]
    assert (state.summary, state.summarized_until) == ("Before.", 0.5)
    assert usage.input_tokens == 300 + 100, "the pass that was written still cost"
