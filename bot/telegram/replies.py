"""What a question refers to when it replies to a message: the Telegram side of core.references.

- a quote (`message.quote`): only the quoted part;
- a user's or another bot's message, a forwarded one (authored by its origin): its text or caption;
- a document: its file name (and caption); a photo: its caption, and the photo itself for the
  image-capable model when one is configured; a voice note or audio file: its transcript, made when
  the answer job runs;
- the assistant's own message: its text, which the answer use case drops when the message is part
  of the provider's current chain (the model has it).

The implicit reply that every forum-topic message carries (to the topic's first message) is not a reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiogram.types import (
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    User,
)

from bot.core.models import Reference, ReferenceKind
from bot.telegram.mappers import author_of, display_name
from bot.telegram.media import (
    JobMedia,
    MediaSettings,
    audio_ref,
    image_ref,
    is_image_message,
    speech_refusal,
    voice_reference,
)


@dataclass(frozen=True, slots=True)
class ReplyContext:
    reference: Reference | None = None
    media: JobMedia = field(default_factory=JobMedia)
    """Files the reference needs: a voice note to transcribe, or the replied photo."""


def reply_context(message: Message, me: User, settings: MediaSettings) -> ReplyContext:
    replied = message.reply_to_message
    if replied is not None and message.is_topic_message and replied.message_id == message.message_thread_id:
        replied = None
    quote = message.quote.text if message.quote is not None and message.quote.text.strip() else None
    if replied is None:
        if quote is None:
            return ReplyContext()
        origin = message.external_reply.origin if message.external_reply is not None else None
        return ReplyContext(Reference(quote, author=_origin_name(origin), kind="quote"))
    from_assistant = replied.from_user is not None and replied.from_user.id == me.id
    author = None if from_assistant else _author(replied)
    sent_at = replied.date.timestamp()
    kind: ReferenceKind = "message"
    if replied.forward_origin is not None:
        author, kind = _origin_name(replied.forward_origin), "forward"
    if quote is not None:
        return ReplyContext(Reference(quote, author, "quote", from_assistant, sent_at))
    audio = audio_ref(replied) if replied.voice is not None or replied.audio is not None else None
    if audio is not None and settings.speech_enabled and speech_refusal(audio, settings) is None:
        return ReplyContext(voice_reference(author, sent_at), JobMedia(reference_voice=audio))
    if is_image_message(replied) and settings.vision_enabled:
        image = image_ref(replied, settings.max_image_bytes)
        if image is not None:
            reference = Reference(replied.caption or "", author, "image", from_assistant, sent_at)
            return ReplyContext(reference, JobMedia(images=(image,)))
    text, kind = _text_of(replied, kind)
    if not text.strip():
        return ReplyContext()
    return ReplyContext(Reference(text, author, kind, from_assistant, sent_at))


def _text_of(message: Message, kind: ReferenceKind) -> tuple[str, ReferenceKind]:
    caption = message.caption or ""
    if message.document is not None:
        name = message.document.file_name or "a file"
        return (f"{name}\n{caption}" if caption else name), "document"
    if message.voice is not None:
        return f"[voice message] {caption}".strip(), "voice"
    if message.audio is not None:
        return f"[audio: {message.audio.file_name or 'file'}] {caption}".strip(), "voice"
    if message.photo:
        return (f"[photo] {caption}".strip()), "image"
    if message.text:
        return message.text, kind
    if message.rich_message is not None:
        return "\n".join(_texts(message.rich_message.model_dump())), kind
    return caption, kind


def _texts(value: Any) -> list[str]:
    """The strings under `text` keys of a rich message's blocks, in order (what a reader sees)."""
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    if isinstance(value, dict):
        found: list[str] = []
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                found.append(item)
            elif isinstance(item, dict | list):
                found.extend(_texts(item))
        return found
    return []


def _author(message: Message) -> str | None:
    name = author_of(message)
    user = message.from_user
    if message.sender_chat is None and user is not None and user.is_bot and name:
        return f"{name} (a bot)"
    return name


def _origin_name(origin: object) -> str | None:
    if isinstance(origin, MessageOriginUser):
        return display_name(origin.sender_user)
    if isinstance(origin, MessageOriginHiddenUser):
        return origin.sender_user_name
    if isinstance(origin, MessageOriginChat):
        return origin.sender_chat.title
    if isinstance(origin, MessageOriginChannel):
        return origin.chat.title
    return None
