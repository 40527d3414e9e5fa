"""Hand-written fakes of the core ports, for unit tests of the use cases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from bot.core.errors import ProviderError
from bot.core.models import CompletedAnswer, ConversationKey, Notice, Turn
from bot.core.ports import AnswerRequest, CompletionRequest, ConversationState


@dataclass
class ScriptedStream:
    """Yields the scripted deltas; optionally breaks after them or waits forever (until its reader is
    cancelled). Records whether its reader stopped early and whether it was closed."""

    deltas_to_send: list[str]
    result_answer: CompletedAnswer | None
    break_with: ProviderError | None = None
    hang_after: bool = False
    reader_cancelled: bool = False
    closed: bool = False
    closed_while_reading: bool = False
    _reading: bool = False

    async def deltas(self) -> AsyncIterator[str]:
        self._reading = True
        try:
            for delta in self.deltas_to_send:
                yield delta
                await asyncio.sleep(0)
            if self.break_with is not None:
                raise self.break_with
            if self.hang_after:
                await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.reader_cancelled = True
            raise
        finally:
            self._reading = False

    @property
    def result(self) -> CompletedAnswer | None:
        return None if self.reader_cancelled else self.result_answer

    async def close(self) -> None:
        self.closed_while_reading = self.closed_while_reading or self._reading
        self.closed = True


@dataclass
class ScriptedModel:
    """Each start() pops the next scripted outcome: a stream or an exception; each complete() pops
    the next scripted one-off answer (or exception)."""

    outcomes: list[ScriptedStream | ProviderError]
    completions: list[CompletedAnswer | ProviderError] = field(default_factory=list)
    requests: list[AnswerRequest] = field(default_factory=list)
    completion_requests: list[CompletionRequest] = field(default_factory=list)

    async def start(self, request: AnswerRequest) -> ScriptedStream:
        self.requests.append(request)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome

    async def complete(self, request: CompletionRequest) -> CompletedAnswer:
        self.completion_requests.append(request)
        outcome = self.completions.pop(0)
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome


@dataclass
class InMemoryConversationStore:
    states: dict[ConversationKey, ConversationState] = field(default_factory=dict)
    turns: dict[ConversationKey, list[Turn]] = field(default_factory=dict)

    async def load(self, key: ConversationKey) -> ConversationState:
        return self.states.get(key, ConversationState())

    async def recent_turns(self, key: ConversationKey, limit: int) -> list[Turn]:
        return self.turns.get(key, [])[-limit:]

    async def record(self, key: ConversationKey, turns: Sequence[Turn], state: ConversationState) -> None:
        self.turns.setdefault(key, []).extend(turns)
        self.states[key] = state

    async def replace_state(
        self, key: ConversationKey, expected_handle: str | None, state: ConversationState
    ) -> bool:
        if key not in self.states or self.states[key].context_handle != expected_handle:
            return False
        self.states[key] = state
        return True

    async def transcript(self, key: ConversationKey) -> list[Turn]:
        return list(self.turns.get(key, []))

    async def reset(self, key: ConversationKey) -> None:
        self.states.pop(key, None)
        self.turns.pop(key, None)


@dataclass
class RecordingView:
    """Records what the use case asked the view to show."""

    frames: list[str] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    started: bool = False
    closed: bool = False

    async def start(self) -> None:
        self.started = True

    def show(self, text: str) -> None:
        self.frames.append(text)

    @property
    def shown_text(self) -> str:
        return self.frames[-1] if self.frames else ""

    async def complete(self, text: str, sources: Sequence[str], web_sources: Sequence[str] = ()) -> None:
        self.events.append(("complete", text + "|" + ",".join([*sources, *web_sources])))

    async def interrupt(self, text: str, notice: Notice) -> None:
        self.events.append((f"interrupt:{notice}", text))

    async def fail(self, notice: Notice) -> None:
        self.events.append((f"fail:{notice}", ""))

    async def close(self) -> None:
        self.closed = True
