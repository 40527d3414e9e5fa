"""Voice messages and audio files: which recordings the assistant takes, and turning one into text.

A recording is checked before anything is downloaded (format, length, size: each refusal names its
limit), then transcribed by a speech recogniser. Transient recogniser failures (429, 5xx, timeouts)
are retried with backoff, as answers are; every call goes through a circuit breaker of its own, so an
outage of speech recognition does not count against the text model and vice versa.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.core.answering import RetryPolicy
from bot.core.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from bot.core.errors import ProviderError

log = logging.getLogger(__name__)


class AudioFormat(StrEnum):
    """Containers the recogniser takes (SpeechKit: speechkit/formats.md)."""

    OGG_OPUS = "ogg_opus"
    MP3 = "mp3"
    WAV = "wav"


@dataclass(frozen=True, slots=True)
class AudioClip:
    data: bytes
    format: AudioFormat
    duration: float
    """Seconds, as the messenger reports them."""


class SpeechRecognizer(Protocol):
    async def recognize(self, clip: AudioClip) -> str:
        """The words spoken ("" when none could be made out). Raises ProviderError."""
        ...


class SpeechRefusal(StrEnum):
    UNSUPPORTED_FORMAT = "unsupported_format"
    TOO_LONG = "too_long"
    TOO_BIG = "too_big"


@dataclass(frozen=True, slots=True)
class SpeechLimits:
    max_seconds: int
    """The longest recording transcribed (the operator's choice, within the recogniser's limit)."""
    max_bytes: int
    """The largest file that can be fetched (Telegram's download limit)."""


def check_recording(
    audio_format: AudioFormat | None, duration: float, size: int | None, limits: SpeechLimits
) -> SpeechRefusal | None:
    """Why a recording will not be transcribed, or None. Checked before it is downloaded."""
    if audio_format is None:
        return SpeechRefusal.UNSUPPORTED_FORMAT
    if duration > limits.max_seconds:
        return SpeechRefusal.TOO_LONG
    if size is not None and size > limits.max_bytes:
        return SpeechRefusal.TOO_BIG
    return None


class TranscribeSpeech:
    def __init__(
        self,
        recognizer: SpeechRecognizer,
        limits: SpeechLimits,
        *,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._recognizer = recognizer
        self.limits = limits
        self._retry = retry or RetryPolicy()
        self._breaker = breaker or CircuitBreaker(BreakerPolicy(failures=0))

    async def transcribe(self, clip: AudioClip) -> str:
        """The transcript, whitespace-normalised ("" for silence). Raises ProviderError once retries
        are spent (or at once when the error is not transient or the breaker is open)."""
        attempt = 0
        while True:
            attempt += 1
            permit = self._breaker.admit()
            try:
                text = await self._recognizer.recognize(clip)
            except ProviderError as error:
                permit.settle(error)
                if not error.retryable or attempt >= self._retry.attempts:
                    raise
                if self._breaker.state is BreakerState.OPEN:
                    raise
                delay = self._retry.delay(attempt)
                log.info("speech recognition failed (%s), retry %d in %.2fs", error, attempt, delay)
                await asyncio.sleep(delay)
                continue
            except BaseException:
                permit.abandoned()
                raise
            permit.succeeded()
            return " ".join(text.split())
