"""The bot's SpeechKit client (bot.yandex.speech) against the emulator over HTTP, and its reading of
getRecognition results in the shape Yandex's own example shows (pretty-printed objects, one after another)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx2
import pytest

from bot.core.errors import ProviderError
from bot.core.speech import AudioClip, AudioFormat
from bot.yandex.credentials import YandexAuth, YandexCredentials
from bot.yandex.speech import (
    SpeechKitEndpoints,
    SpeechKitRecognizer,
    recognized_text,
    uses_sync_recognition,
)
from tests.fakes.yandex.server import YandexEmulator


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    """Authenticated as the bot's Yandex clients are: the shared credentials set the header."""
    auth = YandexAuth(YandexCredentials.api_key("test-api-key"))
    async with httpx2.AsyncClient(timeout=10, auth=auth) as client:
        yield client


def recognizer(
    http: httpx2.AsyncClient, emu: YandexEmulator, *, language: str = "auto"
) -> SpeechKitRecognizer:
    return SpeechKitRecognizer(
        http,
        SpeechKitEndpoints(emu.stt_url, emu.stt_async_url, emu.operations_url),
        folder_id="b1gtestfolder",
        language=language,
        poll_interval=0.02,
    )


def clip(text: str, seconds: float, audio_format: AudioFormat = AudioFormat.OGG_OPUS) -> AudioClip:
    return AudioClip(data=text.encode(), format=audio_format, duration=seconds)


def test_short_ogg_goes_synchronous_the_rest_asynchronous() -> None:
    assert uses_sync_recognition(clip("x", 30))
    assert not uses_sync_recognition(clip("x", 31))
    assert not uses_sync_recognition(AudioClip(b"x" * 1_000_001, AudioFormat.OGG_OPUS, 5))
    assert not uses_sync_recognition(clip("x", 5, AudioFormat.MP3))
    assert not uses_sync_recognition(clip("x", 5, AudioFormat.WAV))


async def test_synchronous_recognition(http: httpx2.AsyncClient, yandex_emulator: YandexEmulator) -> None:
    text = await recognizer(http, yandex_emulator, language="ru-RU").recognize(clip("Привет, мир", 2))
    assert text == "Привет, мир"
    [request] = yandex_emulator.stt_requests()
    assert (request["api"], request["lang"], request["folder"], request["format"]) == (
        "stt:recognize",
        "ru-RU",
        "b1gtestfolder",
        "oggopus",
    )


async def test_asynchronous_recognition_polls_the_operation(
    http: httpx2.AsyncClient, yandex_emulator: YandexEmulator
) -> None:
    yandex_emulator.config.stt_async_delay = 0.1
    spoken = "emu:seconds=95 One thing. Another thing! A third?"
    text = await recognizer(http, yandex_emulator, language="en-US").recognize(clip(spoken, 95))
    assert text == "One thing. Another thing! A third?"
    [request] = yandex_emulator.stt_requests()
    assert request["api"] == "recognizeFileAsync" and request["lang"] == ["en-US"]
    assert request["folder"] == "b1gtestfolder" and request["format"] == "OGG_OPUS"


async def test_auto_language_sends_no_restriction(
    http: httpx2.AsyncClient, yandex_emulator: YandexEmulator
) -> None:
    yandex_emulator.config.stt_async_delay = 0
    assert await recognizer(http, yandex_emulator).recognize(clip("hola", 3, AudioFormat.MP3)) == "hola"
    assert yandex_emulator.stt_requests()[0]["lang"] is None


async def test_errors_become_provider_errors(
    http: httpx2.AsyncClient, yandex_emulator: YandexEmulator
) -> None:
    yandex_emulator.config.api_keys = frozenset({"another"})
    with pytest.raises(ProviderError) as refused:
        await recognizer(http, yandex_emulator).recognize(clip("hi", 1))
    assert refused.value.status == 401 and not refused.value.retryable
    yandex_emulator.config.api_keys = None
    yandex_emulator.inject_faults(1, 503, ["/stt/v3/"])
    with pytest.raises(ProviderError) as unavailable:
        await recognizer(http, yandex_emulator).recognize(clip("hi", 40))
    assert unavailable.value.status == 503 and unavailable.value.retryable
    yandex_emulator.config.stt_async_delay = 0
    with pytest.raises(ProviderError) as failed:
        await recognizer(http, yandex_emulator).recognize(clip("emu:seconds=15000 very long", 15000))
    assert not failed.value.retryable  # the operation ended with INVALID_ARGUMENT


def test_results_in_the_documented_shape() -> None:
    def message(field: str, index: int, text: str) -> dict[str, object]:
        alternative = {"words": [], "text": text, "startTimeMs": "0", "endTimeMs": "1", "confidence": 0}
        update = {"alternatives": [alternative], "channelTag": "0"}
        body: dict[str, object] = {
            "sessionUuid": {"uuid": "u", "userRequestId": "r"},
            "audioCursors": {"finalIndex": str(index)},
            "channelTag": "0",
        }
        if field == "final":
            body["final"] = update
        else:
            body["finalRefinement"] = {"finalIndex": str(index), "normalizedText": update}
        return {"result": body}

    stream = [
        message("final", 0, "twenty two apples"),
        message("finalRefinement", 0, "22 apples"),
        message("final", 1, "and pears"),
        {"result": {"eouUpdate": {"timeMs": "700"}, "channelTag": "0"}},
    ]
    pretty = "\n".join(json.dumps(item, indent=3) for item in stream)  # as the curl example prints them
    assert recognized_text(pretty) == "22 apples and pears"
    assert recognized_text("".join(json.dumps(item) for item in stream)) == "22 apples and pears"
    assert recognized_text("") == ""
    with pytest.raises(ProviderError):
        recognized_text('{"error": {"code": 13, "message": "internal"}}')
