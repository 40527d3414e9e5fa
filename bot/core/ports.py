"""Ports: the capabilities the use cases need from the outside world, as Protocols.

Adapters live in `bot.yandex` (the model), `bot.storage` (Redis) and `bot.telegram` (the view).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.core.models import CompletedAnswer, ConversationKey, Notice, Turn


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    """Everything the model needs for one answer. Nothing is inherited between requests."""

    text: str
    instructions: str
    model: str
    """The model as the operator names it; the adapter turns it into the provider's model URI."""
    context_handle: str | None = None
    """Opaque provider reference to the conversation so far (None: a fresh conversation)."""
    replay: tuple[Turn, ...] = ()
    """Turns the provider's own context does not hold and must be told explicitly, oldest first."""
    search_index: str | None = None
    """The one document index of this conversation, if it has documents."""
    web_search: bool = False
    """Offer the provider's web search tool (with the operator's domains and region)."""


class AnswerStream(Protocol):
    """An answer being generated. Iterate `deltas()` once; afterwards `result` holds the final answer."""

    def deltas(self) -> AsyncIterator[str]: ...

    @property
    def result(self) -> CompletedAnswer | None: ...

    async def cancel(self) -> None:
        """Ask the provider to stop generating (best effort) and stop reading."""

    async def close(self) -> None: ...


class AnswerModel(Protocol):
    async def start(self, request: AnswerRequest) -> AnswerStream:
        """Open an answer stream. Raises ProviderError / ContextLostError before any text is produced."""
        ...


@dataclass(frozen=True, slots=True)
class ConversationState:
    context_handle: str | None = None
    carry_over: tuple[Turn, ...] = field(default_factory=tuple)
    """Turns shown to the user that the provider's chain does not contain (stopped or broken answers)."""
    model: str | None = None
    """The model the provider's chain was made with (None: a chain older than per-chat models, made
    with the operator's default model)."""


class SearchScope(Protocol):
    """The document index an answer searches, and how to get it back when the provider lost it."""

    @property
    def index_id(self) -> str: ...

    async def rebuild(self) -> str | None:
        """Re-index the conversation's documents; the new index id, or None if that failed."""
        ...


class ConversationStore(Protocol):
    async def load(self, key: ConversationKey) -> ConversationState: ...

    async def recent_turns(self, key: ConversationKey, limit: int) -> list[Turn]: ...

    async def record(
        self,
        key: ConversationKey,
        turns: Sequence[Turn],
        state: ConversationState,
    ) -> None:
        """Append turns to the transcript and replace the conversation state, atomically."""

    async def transcript(self, key: ConversationKey) -> list[Turn]: ...

    async def reset(self, key: ConversationKey) -> None: ...


class AnswerView(Protocol):
    """Where an answer is shown. Knows nothing of the model; the use case knows nothing of messages."""

    async def start(self) -> None:
        """Signal at once that an answer is coming (e.g. a typing indicator)."""

    def show(self, text: str) -> None:
        """The answer so far. Must not block; the view coalesces frames to stay within its limits."""

    @property
    def shown_text(self) -> str:
        """The longest text the user has actually seen so far."""
        ...

    async def complete(self, text: str, sources: Sequence[str], web_sources: Sequence[str] = ()) -> None:
        """Deliver the final answer whole, naming the documents and web pages it cites. Never drops it."""

    async def interrupt(self, text: str, notice: Notice) -> None:
        """End the answer with the given partial text and a short note."""

    async def fail(self, notice: Notice) -> None:
        """Nothing useful was produced: tell the user briefly."""

    async def close(self) -> None:
        """Release whatever the view holds (background frame senders)."""
