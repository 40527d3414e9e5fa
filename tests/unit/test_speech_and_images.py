"""Use-case rules for recordings and images, with hand-written fakes of the ports."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from bot.core.answering import AnswerQuestion, AnswerSettings, RetryPolicy
from bot.core.breaker import BreakerPolicy, CircuitBreaker, ProviderUnavailableError
from bot.core.errors import ProviderError
from bot.core.models import (
    CompletedAnswer,
    ConversationKey,
    ImageInput,
    Notice,
    Outcome,
    Question,
    Reference,
    Turn,
)
from bot.core.ports import ConversationState
from bot.core.speech import (
    AudioClip,
    AudioFormat,
    SpeechLimits,
    SpeechRefusal,
    TranscribeSpeech,
    check_recording,
)
from tests.support.waiting import wait_until
from tests.unit.fakes import InMemoryConversationStore, RecordingView, ScriptedModel, ScriptedStream

KEY = ConversationKey(chat_id=1)
IMAGE = ImageInput(data=b"\xff\xd8\xff", mime_type="image/jpeg", name="photo.jpg")
CLIP = AudioClip(data=b"hello", format=AudioFormat.OGG_OPUS, duration=2)
NO_WAIT = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)


def use_case(model: ScriptedModel, store: InMemoryConversationStore) -> AnswerQuestion:
    return AnswerQuestion(model, store, AnswerSettings(instructions="be brief", retry=NO_WAIT))


def stateless(text: str) -> ScriptedStream:
    """An answer of an image-capable model: no context handle of its own."""
    return ScriptedStream([text], CompletedAnswer(text=text, context_handle=None))


def chained(text: str, handle: str) -> ScriptedStream:
    return ScriptedStream([text], CompletedAnswer(text=text, context_handle=handle))


# --- images ----------------------------------------------------------------------------------------------


async def test_an_image_exchange_keeps_the_chain_and_is_carried_into_it() -> None:
    store = InMemoryConversationStore()
    store.states[KEY] = ConversationState(context_handle="resp-1", chain_started_at=100.0)
    model = ScriptedModel([stateless("A red bicycle."), chained("About 12 kg.", "resp-2")])
    answering = use_case(model, store)

    report = await answering.execute(
        Question(KEY, "What is it?"), RecordingView(), asyncio.Event(), images=[IMAGE]
    )
    assert report.outcome is Outcome.COMPLETED
    assert model.requests[0].images == (IMAGE,)
    state = store.states[KEY]
    assert state.context_handle == "resp-1" and state.chain_started_at == 100.0  # the chain is untouched
    assert [(t.role, t.text) for t in state.carry_over] == [
        ("user", "[photo.jpg] What is it?"),
        ("assistant", "A red bicycle."),
    ]
    assert [t.text for t in store.turns[KEY]] == ["[photo.jpg] What is it?", "A red bicycle."]

    await answering.execute(Question(KEY, "How heavy?"), RecordingView(), asyncio.Event())
    follow_up = model.requests[1]
    assert follow_up.context_handle == "resp-1" and follow_up.images == ()
    assert [t.text for t in follow_up.replay] == ["[photo.jpg] What is it?", "A red bicycle."]
    after = store.states[KEY]
    assert (after.context_handle, after.carry_over, after.chain_started_at) == ("resp-2", (), 100.0)


async def test_an_empty_image_answer_leaves_the_conversation_as_it_was() -> None:
    store = InMemoryConversationStore()
    before = ConversationState(context_handle="resp-1", carry_over=(Turn("user", "x"),), chain_started_at=5.0)
    store.states[KEY] = before
    view = RecordingView()
    await use_case(ScriptedModel([stateless("  ")]), store).execute(
        Question(KEY, "What is it?"), view, asyncio.Event(), images=[IMAGE]
    )
    assert view.events == [(f"fail:{Notice.EMPTY_ANSWER}", "")]
    assert store.states[KEY] == before


async def test_a_stopped_image_answer_is_remembered_like_any_other() -> None:
    store = InMemoryConversationStore()
    store.states[KEY] = ConversationState(context_handle="resp-1", chain_started_at=5.0)
    stop = asyncio.Event()
    stream = ScriptedStream(["A red"], None, hang_after=True)
    view = RecordingView()

    async def press_stop() -> None:
        await wait_until(lambda: bool(view.frames), what="a frame shown")
        stop.set()

    presser = asyncio.create_task(press_stop())
    report = await use_case(ScriptedModel([stream]), store).execute(
        Question(KEY, "What is it?"), view, stop, images=[IMAGE]
    )
    await presser
    assert report.outcome is Outcome.STOPPED
    state = store.states[KEY]
    assert state.context_handle == "resp-1" and state.chain_started_at == 5.0
    assert [(t.text, t.interrupted) for t in state.carry_over] == [
        ("[photo.jpg] What is it?", False),
        ("A red", True),
    ]


# --- references and the chain --------------------------------------------------------------------------------


async def test_a_reply_to_an_answer_of_the_current_chain_adds_nothing_but_an_older_one_does() -> None:
    store = InMemoryConversationStore()
    model = ScriptedModel(
        [chained("Danube.", "resp-1"), chained("Yes.", "resp-2"), chained("2850 km.", "resp-3")]
    )
    answering = use_case(model, store)
    await answering.execute(Question(KEY, "Name a river"), RecordingView(), asyncio.Event())
    started = store.states[KEY].chain_started_at
    assert started is not None

    in_chain = Reference("Danube.", from_assistant=True, sent_at=float(int(started)))
    await answering.execute(
        Question(KEY, "Is it long?", refers_to=in_chain), RecordingView(), asyncio.Event()
    )
    assert model.requests[1].text == "Is it long?"
    assert store.states[KEY].chain_started_at == started  # the chain goes on

    older = Reference("Volga.", from_assistant=True, sent_at=started - 3600)
    await answering.execute(Question(KEY, "How long?", refers_to=older), RecordingView(), asyncio.Event())
    assert "Volga." in model.requests[2].text and model.requests[2].text.endswith("\nHow long?")


async def test_the_chain_restarts_when_the_provider_lost_it() -> None:
    from bot.core.errors import ContextLostError

    store = InMemoryConversationStore()
    store.states[KEY] = ConversationState(context_handle="expired", chain_started_at=1.0)
    model = ScriptedModel([ContextLostError("gone"), chained("Hi.", "resp-9")])
    await use_case(model, store).execute(Question(KEY, "hello"), RecordingView(), asyncio.Event())
    started = store.states[KEY].chain_started_at
    assert started is not None and started > 1.0  # replayed turns start a new chain now


# --- recordings ----------------------------------------------------------------------------------------------


def test_recordings_are_checked_before_download() -> None:
    limits = SpeechLimits(max_seconds=60, max_bytes=1000)
    assert check_recording(AudioFormat.OGG_OPUS, 60, 1000, limits) is None
    assert check_recording(None, 1, 1, limits) is SpeechRefusal.UNSUPPORTED_FORMAT
    assert check_recording(AudioFormat.MP3, 61, 1, limits) is SpeechRefusal.TOO_LONG
    assert check_recording(AudioFormat.WAV, 1, 1001, limits) is SpeechRefusal.TOO_BIG
    assert check_recording(AudioFormat.WAV, 1, None, limits) is None


@dataclass
class ScriptedRecognizer:
    outcomes: list[str | ProviderError]
    clips: list[AudioClip] = field(default_factory=list)

    async def recognize(self, clip: AudioClip) -> str:
        self.clips.append(clip)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome


def transcriber(recognizer: ScriptedRecognizer, breaker: CircuitBreaker | None = None) -> TranscribeSpeech:
    return TranscribeSpeech(recognizer, SpeechLimits(600, 10**6), retry=NO_WAIT, breaker=breaker)


async def test_transcripts_are_whitespace_normalised_and_transient_failures_retried() -> None:
    busy = ProviderError("429", retryable=True, status=429)
    recognizer = ScriptedRecognizer([busy, busy, "  two\n words "])
    assert await transcriber(recognizer).transcribe(CLIP) == "two words"
    assert recognizer.clips == [CLIP, CLIP, CLIP]


async def test_rejections_are_not_retried_and_spent_retries_raise() -> None:
    rejected = ProviderError("400", retryable=False, status=400)
    recognizer = ScriptedRecognizer([rejected])
    with pytest.raises(ProviderError) as caught:
        await transcriber(recognizer).transcribe(CLIP)
    assert caught.value is rejected and len(recognizer.clips) == 1
    down = ProviderError("503", retryable=True, status=503)
    recognizer = ScriptedRecognizer([down, down, down, "never"])
    with pytest.raises(ProviderError):
        await transcriber(recognizer).transcribe(CLIP)
    assert len(recognizer.clips) == 3


async def test_an_open_breaker_refuses_without_calling_the_recognizer() -> None:
    down = ProviderError("503", retryable=True, status=503)
    breaker = CircuitBreaker(BreakerPolicy(failures=2, cooldown=60))
    recognizer = ScriptedRecognizer([down, down, "never"])
    with pytest.raises(ProviderError):
        await transcriber(recognizer, breaker).transcribe(CLIP)
    with pytest.raises(ProviderUnavailableError):
        await transcriber(recognizer, breaker).transcribe(CLIP)
    assert len(recognizer.clips) == 2
