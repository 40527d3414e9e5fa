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


ReferenceKind = Literal["message", "quote", "forward", "document", "voice", "image"]


@dataclass(frozen=True, slots=True)
class Reference:
    """The message a question replies to: what the question refers to. Only its text reaches the model,
    marked so that the asker cannot forge it (see core.references)."""

    text: str
    author: str | None = None
    """Who wrote it (for a forward: who wrote the original), as the model should read it."""
    kind: ReferenceKind = "message"
    """"quote": only the part of the message the asker quoted; "document"/"voice"/"image": its file
    name, transcript or caption stands for it."""
    from_assistant: bool = False
    """The assistant's own message: the model has it already if it is part of the current chain."""
    sent_at: float | None = None
    """When the referenced message was sent (unix time)."""


@dataclass(frozen=True, slots=True)
class ImageInput:
    """An image given to the model with a question (a photo or an image document)."""

    data: bytes
    mime_type: str
    name: str


@dataclass(frozen=True, slots=True)
class Question:
    """A user's words addressed to the assistant, already stripped of a leading command or mention."""

    key: ConversationKey
    text: str
    language: Language = "en"
    author: str | None = None
    refers_to: Reference | None = None
    """The message this question replies to, if any."""


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
    approximate: bool = False
    """Estimated by the bot: the provider reported no usage (Yandex may send none, or zeros)."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Ending(StrEnum):
    """How the provider ended an answer that produced a final response."""

    COMPLETED = "completed"
    CUT_BY_LENGTH = "cut_by_length"
    """Incomplete: the output limit was reached (`max_output_tokens`); the text so far is kept."""
    DECLINED = "declined"
    """Incomplete: the provider's content filter stopped the answer (`content_filter`)."""


@dataclass(frozen=True, slots=True)
class WebSource:
    """A web page an answer cites (a `url_citation`)."""

    url: str
    title: str | None = None


@dataclass(frozen=True, slots=True)
class CompletedAnswer:
    """What the provider returned once an answer ended with a final response."""

    text: str
    context_handle: str | None
    sources: tuple[str, ...] = ()
    """File names the answer cites, in order, each once."""
    usage: Usage | None = None
    """What the provider reported; None when it reported nothing (null, or all zeros)."""
    ending: Ending = Ending.COMPLETED
    web_sources: tuple[WebSource, ...] = ()
    retrieved_chars: int = 0
    """Characters of search results the provider gave the model (for estimates without usage)."""


class Outcome(StrEnum):
    """How an answer ended, as far as the user is concerned."""

    COMPLETED = "completed"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"
    TRUNCATED = "truncated"
    """Cut at the model's output limit; the text is kept with a note."""
    DECLINED = "declined"
    """The model (its content filter) declined to answer."""
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
    ANSWER_CUT_OFF = "answer_cut_off"
    MODEL_DECLINED = "model_declined"
    MODEL_DECLINED_TO_CONTINUE = "model_declined_to_continue"
    PROMPT_TOO_LONG = "prompt_too_long"
    SPEECH_EMPTY = "speech_empty"
    SPEECH_DISABLED = "speech_disabled"
    SPEECH_FORMAT = "speech_format"
    SPEECH_TOO_LONG = "speech_too_long"
    SPEECH_TOO_BIG = "speech_too_big"
    IMAGES_DISABLED = "images_disabled"
    IMAGE_TOO_BIG = "image_too_big"
    MEDIA_UNAVAILABLE = "media_unavailable"
