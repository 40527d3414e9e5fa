"""SpeechRecognizer over Yandex SpeechKit's REST APIs, with the same credentials as the rest of the bot.

`http` carries the bot's Yandex credentials (bot.yandex.client.yandex_http_options: the shared
credentials set each request's Authorization header and learn of 401s), privacy header and proxy.

- Short recordings (OGG Opus, at most 30 s and 1 MB: speechkit/stt/request.md) use synchronous
  recognition, API v1: `POST {sync_url}?lang=…&folderId=…&format=oggopus` with the file as the body;
  the answer is `{"result": "<text>"}` (speechkit/stt/api/request-api.md).
- Longer or larger recordings, and MP3/WAV (MP3 "is not supported in the API v1", speechkit/formats.md),
  use asynchronous recognition, API v3 REST, with the audio inline: `POST {async_url}/recognizeFileAsync`
  with `content` (base64, up to 60 MB in the request body: speechkit/concepts/limits.md) answers an
  Operation; `GET {operations_url}/{id}` is polled until `done`; then `GET {async_url}/getRecognition?
  operationId=…` streams one `{"result": StreamingResponse}` per line, whose `final` (or, with text
  normalization, `finalRefinement.normalizedText`) alternatives carry the text
  (speechkit/stt-v3/api-ref/AsyncRecognizer/*.md, _includes/speechkit/async-recognition-v3.md). No
  Object Storage bucket is involved, so nothing beyond the `ai.speechkit-stt.user` role is needed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2

from bot.core.errors import ProviderError
from bot.core.speech import AudioClip, AudioFormat

log = logging.getLogger(__name__)

SYNC_MAX_BYTES = 1_000_000  # "1 MB", read strictly
SYNC_MAX_SECONDS = 30
ASYNC_MAX_SECONDS = 4 * 3600
ASYNC_MAX_BYTES = 60_000_000
# "It takes about 10 seconds to recognize one minute of single-channel audio": wait a good deal longer.
ASYNC_WAIT_BASE_S = 60.0
ASYNC_WAIT_PER_AUDIO_SECOND = 0.5
_CONTAINERS = {AudioFormat.OGG_OPUS: "OGG_OPUS", AudioFormat.MP3: "MP3", AudioFormat.WAV: "WAV"}


@dataclass(frozen=True, slots=True)
class SpeechKitEndpoints:
    sync_url: str
    """Synchronous recognition, e.g. https://stt.api.cloud.yandex.net/speech/v1/stt:recognize."""
    async_url: str
    """API v3 REST base, e.g. https://stt.api.cloud.yandex.net/stt/v3."""
    operations_url: str
    """Operations, e.g. https://operation.api.cloud.yandex.net/operations."""


class SpeechKitRecognizer:
    def __init__(
        self,
        http: httpx2.AsyncClient,
        endpoints: SpeechKitEndpoints,
        *,
        folder_id: str,
        language: str,
        poll_interval: float = 1.0,
        count_error: Callable[[str], None] | None = None,
    ) -> None:
        self._http = http
        self._endpoints = endpoints
        self._folder_id = folder_id
        self._language = language
        self._poll_interval = poll_interval
        self._count_error = count_error

    async def recognize(self, clip: AudioClip) -> str:
        if uses_sync_recognition(clip):
            return await self._recognize_sync(clip)
        return await self._recognize_async(clip)

    # -- synchronous (API v1) -----------------------------------------------------------------------

    async def _recognize_sync(self, clip: AudioClip) -> str:
        params = {"lang": self._language, "folderId": self._folder_id, "format": "oggopus"}
        response = await self._call("POST", self._endpoints.sync_url, params=params, content=clip.data)
        result = _json(response).get("result", "")
        return result if isinstance(result, str) else ""

    # -- asynchronous (API v3) ----------------------------------------------------------------------

    async def _recognize_async(self, clip: AudioClip) -> str:
        if len(clip.data) > ASYNC_MAX_BYTES:
            raise ProviderError("recording too large for inline recognition", retryable=False, status=400)
        model: dict[str, Any] = {
            "model": "general",
            "audioFormat": {"containerAudio": {"containerAudioType": _CONTAINERS[clip.format]}},
            "textNormalization": {"textNormalization": "TEXT_NORMALIZATION_ENABLED"},
            "audioProcessingType": "FULL_DATA",
        }
        if self._language.lower() != "auto":
            model["languageRestriction"] = {"restrictionType": "WHITELIST", "languageCode": [self._language]}
        body = {"content": base64.b64encode(clip.data).decode("ascii"), "recognitionModel": model}
        started = await self._call("POST", f"{self._endpoints.async_url}/recognizeFileAsync", json_body=body)
        operation_id = _json(started).get("id")
        if not isinstance(operation_id, str) or not operation_id:
            raise ProviderError("speech recognition returned no operation id", retryable=True)
        await self._wait_until_done(operation_id, clip.duration)
        results = await self._call(
            "GET", f"{self._endpoints.async_url}/getRecognition", params={"operationId": operation_id}
        )
        return recognized_text(results.text)

    async def _wait_until_done(self, operation_id: str, duration: float) -> None:
        deadline = time.monotonic() + ASYNC_WAIT_BASE_S + ASYNC_WAIT_PER_AUDIO_SECOND * duration
        url = f"{self._endpoints.operations_url}/{operation_id}"
        while True:
            operation = _json(await self._call("GET", url))
            if operation.get("done"):
                error = operation.get("error")
                if isinstance(error, dict):
                    # google.rpc codes: 3 INVALID_ARGUMENT, 8 RESOURCE_EXHAUSTED, 13/14 internal/unavailable.
                    code = error.get("code")
                    retryable = code in (4, 8, 13, 14)
                    raise ProviderError(f"speech recognition failed (code {code})", retryable=retryable)
                return
            if time.monotonic() >= deadline:
                raise ProviderError("speech recognition took too long", retryable=False, status=504)
            await asyncio.sleep(self._poll_interval)

    # -- HTTP -----------------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> httpx2.Response:
        headers = {"x-folder-id": self._folder_id}
        try:
            response = await self._http.request(
                method, url, params=params, content=content, json=json_body, headers=headers
            )
        except httpx2.TimeoutException as error:
            self._count("stt_timeout")
            raise ProviderError("speech recognition timed out", retryable=True) from error
        except httpx2.TransportError as error:
            self._count("stt_connection")
            raise ProviderError(
                f"speech recognition unreachable: {type(error).__name__}", retryable=True
            ) from error
        if response.status_code >= 400:
            status = response.status_code
            self._count(f"stt_http_{status}")
            retryable = status in (408, 429) or status >= 500
            raise ProviderError(f"speech recognition answered {status}", retryable=retryable, status=status)
        return response

    def _count(self, kind: str) -> None:
        if self._count_error is not None:
            self._count_error(kind)


def uses_sync_recognition(clip: AudioClip) -> bool:
    """Synchronous recognition takes OGG Opus (or LPCM) of at most 30 s and 1 MB; the rest goes async."""
    return (
        clip.format is AudioFormat.OGG_OPUS
        and clip.duration <= SYNC_MAX_SECONDS
        and len(clip.data) <= SYNC_MAX_BYTES
    )


def recognized_text(body: str) -> str:
    """The text of getRecognition's stream: each utterance's normalized text when given, else its
    `final`, in `finalIndex` order, of the first audio channel."""
    decoder = json.JSONDecoder()
    finals: dict[tuple[str, int], str] = {}
    refined: dict[tuple[str, int], str] = {}
    position = 0
    while True:
        while position < len(body) and body[position].isspace():
            position += 1
        if position >= len(body):
            break
        try:
            message, position = decoder.raw_decode(body, position)
        except json.JSONDecodeError as error:
            raise ProviderError("speech recognition results are not JSON", retryable=True) from error
        if not isinstance(message, dict):
            continue
        if isinstance(message.get("error"), dict):
            raise ProviderError("speech recognition results carry an error", retryable=False)
        result = message.get("result", message)
        if not isinstance(result, dict):
            continue
        channel = str(result.get("channelTag", "0"))
        cursors = result.get("audioCursors") or {}
        if isinstance(result.get("final"), dict):
            index = int(cursors.get("finalIndex", len(finals)))
            finals[(channel, index)] = _best_alternative(result["final"])
        refinement = result.get("finalRefinement")
        if isinstance(refinement, dict) and isinstance(refinement.get("normalizedText"), dict):
            index = int(refinement.get("finalIndex", cursors.get("finalIndex", 0)))
            refined[(channel, index)] = _best_alternative(refinement["normalizedText"])
    merged = {**finals, **refined}
    if not merged:
        return ""
    first_channel = min(channel for channel, _ in merged)
    pieces = [merged[key] for key in sorted(merged) if key[0] == first_channel]
    return " ".join(piece for piece in pieces if piece)


def _best_alternative(update: dict[str, Any]) -> str:
    alternatives = update.get("alternatives") or []
    if alternatives and isinstance(alternatives[0], dict):
        return str(alternatives[0].get("text", "")).strip()
    return ""


def _json(response: httpx2.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as error:
        raise ProviderError(
            "speech recognition answered something other than JSON", retryable=True
        ) from error
    return data if isinstance(data, dict) else {}
