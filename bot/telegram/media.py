"""Voice notes, audio files and images in questions: what a job carries, and turning it into words.

A handler checks the medium (kind, length, size: every refusal names its limit) and queues an answer
job carrying Telegram file references, not bytes (`JobMedia`). When the job runs in its conversation's
lane, `MediaPreparer` downloads the files and gives the answer use case a question it can answer:
a voice note becomes its transcript (shown to the user above the answer), images go along as images,
and a reply to someone's voice note gets that note's transcript as what the question refers to.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from aiogram.types import Audio, Document, Message, PhotoSize, Voice

from bot.core.documents import DocumentFetchError
from bot.core.errors import ProviderError
from bot.core.models import ImageInput, Notice, Question, Reference
from bot.core.speech import (
    AudioClip,
    AudioFormat,
    SpeechLimits,
    SpeechRefusal,
    TranscribeSpeech,
    check_recording,
)
from bot.telegram.documents import TelegramDocumentSource, human_size
from bot.telegram.formatting import escape_markdown

log = logging.getLogger(__name__)

TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024
"""getFile downloads files of at most 20 MB (Bot API, getFile)."""
VISION_SIDE_PX = 896
"""Gemma 3 scales an image's longer side to 896 px (ai-studio/concepts/generation/models.md): a photo
size at least that large loses nothing, a larger one only costs bandwidth."""
IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
_IMAGE_EXTENSIONS = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_AUDIO_TYPES = {
    "audio/ogg": AudioFormat.OGG_OPUS,
    "audio/opus": AudioFormat.OGG_OPUS,
    "audio/mpeg": AudioFormat.MP3,
    "audio/mp3": AudioFormat.MP3,
    "audio/wav": AudioFormat.WAV,
    "audio/x-wav": AudioFormat.WAV,
    "audio/wave": AudioFormat.WAV,
}
_AUDIO_EXTENSIONS = {
    "ogg": AudioFormat.OGG_OPUS,
    "oga": AudioFormat.OGG_OPUS,
    "opus": AudioFormat.OGG_OPUS,
    "mp3": AudioFormat.MP3,
    "wav": AudioFormat.WAV,
}
SUPPORTED_AUDIO = "OGG Opus, MP3, WAV"


@dataclass(frozen=True, slots=True)
class MediaSettings:
    """What the operator enabled, and the limits the handlers enforce."""

    speech_enabled: bool = False
    max_speech_seconds: int = 600
    vision_enabled: bool = False
    max_image_bytes: int = 5 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class AudioRef:
    file_id: str
    format: AudioFormat
    duration: int
    size: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "format": self.format.value,
            "duration": self.duration,
            "size": self.size,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AudioRef:
        return cls(str(data["file_id"]), AudioFormat(data["format"]), int(data["duration"]), data.get("size"))


@dataclass(frozen=True, slots=True)
class ImageRef:
    file_id: str
    mime_type: str
    name: str
    size: int | None

    def to_json(self) -> dict[str, Any]:
        return {"file_id": self.file_id, "mime_type": self.mime_type, "name": self.name, "size": self.size}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImageRef:
        return cls(str(data["file_id"]), str(data["mime_type"]), str(data["name"]), data.get("size"))


@dataclass(frozen=True, slots=True)
class JobMedia:
    """Files an answer job needs before it can ask the model (references only; fetched when it runs)."""

    voice: AudioRef | None = None
    """The question itself was spoken: its transcript is the question."""
    images: tuple[ImageRef, ...] = ()
    """The question is about these images."""
    reference_voice: AudioRef | None = None
    """The question replies to a voice note: its transcript is what the question refers to."""

    def __bool__(self) -> bool:
        return self.voice is not None or bool(self.images) or self.reference_voice is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "voice": self.voice.to_json() if self.voice else None,
            "images": [image.to_json() for image in self.images],
            "reference_voice": self.reference_voice.to_json() if self.reference_voice else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> JobMedia | None:
        if not data:
            return None
        voice, reference = data.get("voice"), data.get("reference_voice")
        return cls(
            voice=AudioRef.from_json(voice) if voice else None,
            images=tuple(ImageRef.from_json(image) for image in data.get("images") or ()),
            reference_voice=AudioRef.from_json(reference) if reference else None,
        )


# --- Telegram messages → references --------------------------------------------------------------------


def audio_ref(message: Message) -> AudioRef | None:
    """The voice note or audio file of a message (None if it has neither)."""
    if message.voice is not None:
        return _voice_ref(message.voice)
    if message.audio is not None:
        return _audio_file_ref(message.audio)
    return None


def audio_format_of(medium: Voice | Audio) -> AudioFormat | None:
    """Voice notes are OGG Opus; audio files by MIME type, else by extension. None: not supported."""
    if isinstance(medium, Voice):
        return _AUDIO_TYPES.get((medium.mime_type or "audio/ogg").lower())
    by_type = _AUDIO_TYPES.get((medium.mime_type or "").lower())
    if by_type is not None:
        return by_type
    extension = PurePosixPath(medium.file_name or "").suffix.lstrip(".").lower()
    return _AUDIO_EXTENSIONS.get(extension)


def _voice_ref(voice: Voice) -> AudioRef | None:
    audio_format = audio_format_of(voice)
    return AudioRef(voice.file_id, audio_format, voice.duration, voice.file_size) if audio_format else None


def _audio_file_ref(audio: Audio) -> AudioRef | None:
    audio_format = audio_format_of(audio)
    return AudioRef(audio.file_id, audio_format, audio.duration, audio.file_size) if audio_format else None


def image_document_type(document: Document | None) -> str | None:
    """The MIME type of an image document the vision model reads (JPEG, PNG, WebP), else None."""
    if document is None:
        return None
    mime = (document.mime_type or "").lower()
    if mime in IMAGE_TYPES:
        return mime
    extension = PurePosixPath(document.file_name or "").suffix.lstrip(".").lower()
    return _IMAGE_EXTENSIONS.get(extension) if not mime or mime == "application/octet-stream" else None


def is_image_message(message: Message) -> bool:
    return bool(message.photo) or image_document_type(message.document) is not None


def image_ref(message: Message, max_bytes: int) -> ImageRef | None:
    """The image of a photo or image-document message, within `max_bytes`; None when every size is
    larger (or the message has no image). Photos: the smallest size whose longer side reaches the
    vision model's working size, else the largest that fits."""
    if message.photo:
        size = pick_photo_size(message.photo, max_bytes)
        if size is None:
            return None
        return ImageRef(size.file_id, "image/jpeg", f"photo-{size.file_unique_id}.jpg", size.file_size)
    mime = image_document_type(message.document)
    document = message.document
    if mime is None or document is None:
        return None
    if document.file_size is not None and document.file_size > max_bytes:
        return None
    name = document.file_name or f"image-{document.file_unique_id}.{IMAGE_TYPES[mime]}"
    return ImageRef(document.file_id, mime, name, document.file_size)


def pick_photo_size(sizes: Sequence[PhotoSize], max_bytes: int) -> PhotoSize | None:
    fitting = [s for s in sizes if (s.file_size or 0) <= max_bytes]
    if not fitting:
        return None
    large_enough = [s for s in fitting if max(s.width, s.height) >= VISION_SIDE_PX]
    if large_enough:
        return min(large_enough, key=lambda s: s.width * s.height)
    return max(fitting, key=lambda s: s.width * s.height)


def image_size_of(message: Message) -> int:
    """The smallest size the message's image comes in (for a "too big" notice)."""
    if message.photo:
        return min(s.file_size or 0 for s in message.photo)
    return (message.document.file_size or 0) if message.document else 0


def speech_refusal(ref: AudioRef | None, settings: MediaSettings) -> SpeechRefusal | None:
    if ref is None:
        return SpeechRefusal.UNSUPPORTED_FORMAT
    limits = SpeechLimits(max_seconds=settings.max_speech_seconds, max_bytes=TELEGRAM_DOWNLOAD_LIMIT)
    return check_recording(ref.format, ref.duration, ref.size, limits)


def refusal_notice(refusal: SpeechRefusal) -> Notice:
    return {
        SpeechRefusal.UNSUPPORTED_FORMAT: Notice.SPEECH_FORMAT,
        SpeechRefusal.TOO_LONG: Notice.SPEECH_TOO_LONG,
        SpeechRefusal.TOO_BIG: Notice.SPEECH_TOO_BIG,
    }[refusal]


def notice_values(settings: MediaSettings) -> dict[str, object]:
    """The limits notices about media name."""
    minutes, seconds = divmod(settings.max_speech_seconds, 60)
    return {
        "max_duration": f"{minutes}:{seconds:02d}",
        "max_size": human_size(TELEGRAM_DOWNLOAD_LIMIT),
        "formats": SUPPORTED_AUDIO,
        "max_image": human_size(settings.max_image_bytes),
    }


# --- when the job runs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreparedQuestion:
    question: Question
    images: tuple[ImageInput, ...] = ()
    preamble: str | None = None
    """Markdown shown above the answer: what was heard."""


@dataclass(frozen=True, slots=True)
class MediaFailure:
    notice: Notice
    values: dict[str, object] = field(default_factory=dict)


class MediaPreparer:
    def __init__(
        self,
        source: TelegramDocumentSource,
        speech: TranscribeSpeech | None,
        settings: MediaSettings,
        *,
        max_question_chars: int,
    ) -> None:
        self._source = source
        self._speech = speech
        self._settings = settings
        self._max_question_chars = max_question_chars

    async def prepare(self, question: Question, media: JobMedia) -> PreparedQuestion | MediaFailure:
        try:
            return await self._prepare(question, media)
        except DocumentFetchError:
            return MediaFailure(Notice.MEDIA_UNAVAILABLE)
        except ProviderError as error:
            log.warning("speech recognition failed: %s", error)
            return MediaFailure(transcription_notice(error))

    async def _prepare(self, question: Question, media: JobMedia) -> PreparedQuestion | MediaFailure:
        preamble = None
        if media.reference_voice is not None and question.refers_to is not None:
            heard = await self._transcribe(media.reference_voice)
            question = replace(question, refers_to=replace(question.refers_to, text=heard))
        if media.voice is not None:
            heard = await self._transcribe(media.voice)
            if not heard:
                return MediaFailure(Notice.SPEECH_EMPTY)
            text = f"{question.text.strip()}\n\n{heard}" if question.text.strip() else heard
            if len(text) > self._max_question_chars:
                return MediaFailure(Notice.QUESTION_TOO_LONG, {"length": len(text)})
            question = replace(question, text=text)
            preamble = f"> 🎤 {escape_markdown(heard)}"
        images = []
        for ref in media.images:
            data = await self._download(ref.file_id)
            if len(data) > self._settings.max_image_bytes:
                return MediaFailure(Notice.IMAGE_TOO_BIG, {"size": human_size(len(data))})
            images.append(ImageInput(data=data, mime_type=ref.mime_type, name=ref.name))
        return PreparedQuestion(question, tuple(images), preamble)

    async def _transcribe(self, ref: AudioRef) -> str:
        if self._speech is None:
            raise ProviderError("speech recognition is not enabled", retryable=False, status=400)
        data = await self._download(ref.file_id)
        return await self._speech.transcribe(AudioClip(data=data, format=ref.format, duration=ref.duration))

    async def _download(self, file_id: str) -> bytes:
        spool = await self._source.fetch(file_id)
        try:
            return spool.read()
        finally:
            spool.close()


def transcription_notice(error: ProviderError) -> Notice:
    if error.status == 429:
        return Notice.PROVIDER_BUSY
    if error.retryable or error.status is None:
        return Notice.PROVIDER_UNAVAILABLE
    return Notice.PROVIDER_REJECTED


def voice_reference(author: str | None, sent_at: float | None) -> Reference:
    """A reply to a voice note: its transcript (filled in when the job runs) is what it refers to."""
    return Reference(text="", author=author, kind="voice", sent_at=sent_at)
