"""Domain values of the product: who is talking, what was said, what the model answered.

Nothing here knows about Telegram, Redis or the provider SDK; provider ids are opaque strings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Language = Literal["en", "ru"]


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """The scope of one persistent conversation: a chat, optionally narrowed to a topic or a user."""

    chat_id: int
    thread_id: int | None = None
    user_id: int | None = None

    def as_path(self) -> str:
        """A stable textual form used in storage keys (no separators other than ':')."""
        parts = [str(self.chat_id), f"t{self.thread_id or 0}"]
        if self.user_id is not None:
            parts.append(f"u{self.user_id}")
        return ":".join(parts)

    @classmethod
    def from_path(cls, path: str) -> ConversationKey:
        chat, thread, *rest = path.split(":")
        user = int(rest[0][1:]) if rest else None
        return cls(chat_id=int(chat), thread_id=int(thread[1:]) or None, user_id=user)


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a conversation's transcript."""

    role: Literal["user", "assistant"]
    text: str
    at: float = field(default_factory=time.time)
    author: str | None = None
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class Question:
    """A user's words addressed to the assistant, already stripped of a leading command or mention."""

    key: ConversationKey
    text: str
    language: Language = "en"
    author: str | None = None


@dataclass(frozen=True, slots=True)
class AnswerProfile:
    """How one conversation's answers are made: what its chat chose (core.chat_settings), resolved
    against the operator's defaults."""

    model: str
    """The model as the operator names it (an entry of YC_MODELS); opaque to the core."""
    instructions: str
    web_search: bool = False


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class CompletedAnswer:
    """What the provider returned once an answer was complete."""

    text: str
    context_handle: str | None
    sources: tuple[str, ...] = ()
    """Names of the documents the answer cites, de-duplicated, in order of first citation."""
    web_sources: tuple[str, ...] = ()
    """Addresses of the web pages the answer cites, as the provider gave them (a URL or a bare host)."""
    usage: Usage = Usage()


class Outcome(StrEnum):
    """How an answer ended, as far as the user is concerned."""

    COMPLETED = "completed"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


class Notice(StrEnum):
    """Short messages the user may see; the Telegram layer renders them in the user's language."""

    PROVIDER_BUSY = "provider_busy"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    PROVIDER_REJECTED = "provider_rejected"
    ANSWER_INTERRUPTED = "answer_interrupted"
    ANSWER_STOPPED = "answer_stopped"
    EMPTY_ANSWER = "empty_answer"
    SHUTTING_DOWN = "shutting_down"
    EMPTY_QUESTION = "empty_question"
    QUESTION_TOO_LONG = "question_too_long"
    QUEUE_FULL = "queue_full"
    INTERNAL_ERROR = "internal_error"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    ANSWER_LOST = "answer_lost"
    ANSWER_UNCERTAIN = "answer_uncertain"
