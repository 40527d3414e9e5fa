"""Ports: the capabilities the use cases need from the outside world, as Protocols.

Adapters live in `bot.yandex` (the model), `bot.storage` (Redis) and `bot.telegram` (the view).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.core.models import CompletedAnswer, ConversationKey, ImageInput, Notice, Turn


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    """Everything the model needs for one answer. Nothing is inherited between requests."""

    text: str
    instructions: str
    context_handle: str | None = None
    """Opaque provider reference to the conversation so far (None: a new chain)."""
    summary: str | None = None
    """A new chain's summary of the conversation before `replay`; given to the model first (only
    when `context_handle` is None: an existing chain already holds it)."""
    replay: tuple[Turn, ...] = ()
    """Turns the provider's own context does not hold and must be told explicitly, oldest first."""
    search_index: str | None = None
    """The one document index of this conversation, if it has documents."""
    model: str | None = None
    """The model to ask (a name such as `yandexgpt/latest`); None: the configured one."""
    web_search: bool = False
    """Offer the provider's web search tool (with the operator's domains and region)."""
    images: tuple[ImageInput, ...] = ()
    """Images the question is about: answered by an image-capable model, which keeps no context of
    its own (its answer has no context handle)."""


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """One self-contained request outside any chain (such as writing a conversation's summary)."""

    instructions: str
    text: str
    max_output_tokens: int
    model: str | None = None


class AnswerStream(Protocol):
    """An answer being generated. Iterate `deltas()` once; afterwards `result` holds the final answer:
    None when the stream ended without one. `deltas()` raises ProviderError (StreamBrokenError, or
    PromptTooLongError when the provider refused the prompt's length) when the provider failed it.

    To stop an answer early its reader stops iterating (the task reading it is cancelled) and then
    closes the stream: the provider stops a response whose client went away (Yandex's cancel
    endpoint serves background responses only)."""

    def deltas(self) -> AsyncIterator[str]: ...

    @property
    def result(self) -> CompletedAnswer | None: ...

    async def close(self) -> None:
        """Close the stream (idempotent); never while `deltas()` is being iterated by another task."""


class AnswerModel(Protocol):
    async def start(self, request: AnswerRequest) -> AnswerStream:
        """Open an answer stream. Raises ProviderError (ContextLostError, SearchIndexGoneError,
        PromptTooLongError, …) before any text is produced."""
        ...

    async def complete(self, request: CompletionRequest) -> CompletedAnswer:
        """Ask once and wait for the whole answer (no chain, no tools). Raises ProviderError."""
        ...


@dataclass(frozen=True, slots=True)
class ConversationState:
    context_handle: str | None = None
    carry_over: tuple[Turn, ...] = field(default_factory=tuple)
    """Turns the provider's chain does not contain that the model must be told with the next
    question, oldest first: recent turns carried into a new chain, stopped or broken answers,
    exchanges about images."""
    summary: str | None = None
    """The summary the current chain started from (turns up to `summarized_until`), if any."""
    summarized_until: float = 0.0
    """`at` of the newest transcript turn folded into `summary` (0: none)."""
    context_tokens: int = 0
    """How full the chain is: tokens of its last request plus its answer (reported or estimated)."""
    context_limit: int = 0
    """A smaller context than configured, learned when the provider refused a prompt's length (0: none)."""
    model: str | None = None
    """The model the provider's chain was made with (None: no chain, or a chain older than per-chat
    models, made with the operator's default model)."""
    chain_started_at: float | None = None
    """When the question that started the provider's current chain was asked (unix time): the
    assistant's messages sent before it are not in the model's context."""


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

    async def replace_state(
        self, key: ConversationKey, expected_handle: str | None, state: ConversationState
    ) -> bool:
        """Replace the state only if the conversation still exists and still refers to
        `expected_handle` (so a reset or another answer in between wins); True if replaced."""
        ...

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
        """Deliver the final answer whole, naming the documents and web pages (URLs) it cites. Never
        drops it."""

    async def interrupt(self, text: str, notice: Notice) -> None:
        """End the answer with the given partial text and a short note."""

    async def fail(self, notice: Notice) -> None:
        """Nothing useful was produced: tell the user briefly."""

    async def close(self) -> None:
        """Release whatever the view holds (background frame senders)."""
