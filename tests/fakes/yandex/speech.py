"""SpeechKit recognition without a recogniser: audio whose bytes are UTF-8 text "says" that text.

Tests cannot speak, so the emulator reads the audio's bytes as the words spoken:

* UTF-8 text is recognised as itself (whitespace collapsed). Directives in it steer the emulator and
  are removed from the result: ``emu:seconds=N`` declares the recording's length (synchronous
  recognition refuses more than 30 s, as SpeechKit does), ``emu:silence`` makes it silence,
  ``emu:fail=STATUS`` makes the request fail with that HTTP status.
* Zero bytes, only NUL bytes (digital silence, what the Telegram fake serves for a declared size) or
  bytes that are not UTF-8 (real audio, which the emulator cannot hear) are recognised as nothing.

Limits and parameters follow Yandex's pages: ``speechkit/stt/request.md``,
``speechkit/stt/api/request-api.md`` (synchronous: 1 MB, 30 s, ``lang``/``topic``/``format``/
``folderId``), ``speechkit/concepts/limits.md`` (asynchronous: 60 MB in an API v3 request body,
4 hours), ``speechkit/stt/models.md`` (languages), ``speechkit/formats.md`` (MP3 only in API v3).
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .items import new_id

SYNC_MAX_BYTES = 1_000_000
"""Synchronous recognition: "Maximum file size: 1 MB" (read as 10^6 bytes, the stricter reading)."""
SYNC_MAX_SECONDS = 30
ASYNC_MAX_BYTES = 60_000_000
"""Asynchronous recognition, audio in the API v3 request body: "60 MB" (10^6 bytes each)."""
ASYNC_MAX_SECONDS = 4 * 3600
FOLDER_ID_MAX_CHARS = 50
"""``folderId``: "The maximum string length is 50 characters." (request-api.md)."""

LANGUAGES = frozenset(
    code.lower()
    for code in [
        "auto",
        "de-DE",
        "en-US",
        "es-ES",
        "fi-FI",
        "fr-FR",
        "he-HE",
        "it-IT",
        "kk-KZ",
        "nl-NL",
        "pl-PL",
        "pt-PT",
        "pt-BR",
        "ru-RU",
        "sv-SE",
        "tr-TR",
        "uz-UZ",
    ]
)
"""Codes of ``speechkit/stt/models.md`` (case-insensitive there, so compared lower-case here)."""
SYNC_TOPICS = frozenset({"general", "general:rc", "general:deprecated"})
ASYNC_MODELS = frozenset({"general", "general:rc", "general:deprecated", "deferred-general"})
SYNC_FORMATS = frozenset({"lpcm", "oggopus"})
SYNC_SAMPLE_RATES = frozenset({"48000", "16000", "8000"})
CONTAINER_TYPES = frozenset({"WAV", "OGG_OPUS", "MP3"})

_SECONDS = re.compile(r"\bemu:seconds=(\d+(?:\.\d+)?)")
_FAIL = re.compile(r"\bemu:fail=(\d{3})\b")
_SILENCE = re.compile(r"\bemu:silence\b")
_DIRECTIVE = re.compile(r"\bemu:[a-z_]+(?:=\S*)?")
_SENTENCE = re.compile(r"[^.!?…]+[.!?…]*")
RECORD_LOG_SIZE = 1000


@dataclass(frozen=True)
class Heard:
    """What the emulator "hears" in a recording."""

    text: str
    seconds: float | None
    """Declared with ``emu:seconds=N``; None when the audio does not say."""
    fail_status: int | None


def hear(audio: bytes) -> Heard:
    if not audio or not audio.strip(b"\0"):
        return Heard("", None, None)
    try:
        spoken = audio.decode("utf-8")
    except UnicodeDecodeError:
        return Heard("", None, None)
    seconds = _SECONDS.search(spoken)
    fail = _FAIL.search(spoken)
    text = "" if _SILENCE.search(spoken) else " ".join(_DIRECTIVE.sub(" ", spoken).split())
    return Heard(
        text=text,
        seconds=float(seconds.group(1)) if seconds else None,
        fail_status=int(fail.group(1)) if fail else None,
    )


def utterances(text: str) -> list[str]:
    """The text cut at sentence ends: each piece is one ``final`` of an asynchronous recognition."""
    return [piece.strip() for piece in _SENTENCE.findall(text) if piece.strip()]


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Recognition:
    """One asynchronous recognition: its operation, and the text it will have recognised."""

    id: str
    created_at: float
    ready_at: float
    """``time.monotonic()`` from which the operation is done."""
    text: str
    error: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return time.monotonic() >= self.ready_at

    def operation(self) -> dict[str, Any]:
        """An Operation resource (``speechkit/stt-v3/api-ref/Operation/get.md``)."""
        done = self.done
        operation: dict[str, Any] = {
            "id": self.id,
            "description": "STT v3 async recognition",
            "createdAt": rfc3339(self.created_at),
            "createdBy": "emulator",
            "modifiedAt": rfc3339(self.created_at if not done else time.time()),
            "done": done,
            "metadata": None,
        }
        if done:
            if self.error is not None:
                operation["error"] = self.error
            else:
                operation["response"] = {}
        return operation

    def results(self) -> list[dict[str, Any]]:
        """``getRecognition``'s stream of StreamingResponse messages, each wrapped in ``result``: per
        utterance a ``final`` and its ``finalRefinement`` (normalized text), then an ``eouUpdate``."""
        session = {"uuid": self.id, "userRequestId": self.id}
        messages: list[dict[str, Any]] = []
        end_ms = 0
        for index, sentence in enumerate(utterances(self.text)):
            start_ms, end_ms = end_ms, end_ms + 400 * max(1, len(sentence.split()))
            alternative = {
                "words": [],
                "text": sentence,
                "startTimeMs": str(start_ms),
                "endTimeMs": str(end_ms),
                "confidence": 0,
                "languages": [],
            }
            cursors = {
                "receivedDataMs": str(end_ms),
                "resetTimeMs": "0",
                "partialTimeMs": str(end_ms),
                "finalTimeMs": str(end_ms),
                "finalIndex": str(index),
                "eouTimeMs": "0",
            }
            common = {"sessionUuid": session, "audioCursors": cursors, "responseWallTimeMs": "1"}
            messages.append(
                {**common, "final": {"alternatives": [alternative], "channelTag": "0"}, "channelTag": "0"}
            )
            messages.append(
                {
                    **common,
                    "finalRefinement": {
                        "finalIndex": str(index),
                        "normalizedText": {"alternatives": [alternative], "channelTag": "0"},
                    },
                    "channelTag": "0",
                }
            )
        messages.append(
            {
                "sessionUuid": session,
                "audioCursors": {"receivedDataMs": str(end_ms), "eouTimeMs": str(end_ms)},
                "responseWallTimeMs": "1",
                "eouUpdate": {"timeMs": str(end_ms)},
                "channelTag": "0",
            }
        )
        return [{"result": message} for message in messages]


@dataclass
class SpeechState:
    """Recognitions in progress or done, and the log ``GET /__emu/stt`` shows."""

    recognitions: dict[str, Recognition] = field(default_factory=dict)
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECORD_LOG_SIZE))

    def start(self, text: str, *, delay: float, error: dict[str, Any] | None = None) -> Recognition:
        recognition = Recognition(
            id=new_id(), created_at=time.time(), ready_at=time.monotonic() + delay, text=text, error=error
        )
        self.recognitions[recognition.id] = recognition
        return recognition

    def record(self, **fields: Any) -> None:
        self.log.append({"at": time.time(), **fields})

    def records(self) -> list[dict[str, Any]]:
        return list(self.log)

    def reset(self) -> None:
        self.recognitions.clear()
        self.log.clear()
