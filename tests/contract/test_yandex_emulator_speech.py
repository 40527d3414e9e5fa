"""Contract tests of the emulator's SpeechKit recognition over plain HTTP, as Yandex documents it.

Synchronous recognition (API v1): ``POST /speech/v1/stt:recognize``; asynchronous (API v3 REST):
``recognizeFileAsync`` → Operation → ``getRecognition``. Audio whose bytes are UTF-8 text "says" that text.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.yandex.server import YandexEmulator

AUTH = {"Authorization": "Api-Key test-api-key"}
OGG = {"containerAudio": {"containerAudioType": "OGG_OPUS"}}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def recognize(
    http: aiohttp.ClientSession, emu: YandexEmulator, audio: bytes, **params: str
) -> tuple[int, dict[str, Any]]:
    query = {"lang": "auto", "folderId": "b1gtestfolder", **params}
    async with http.post(emu.stt_url, params=query, data=audio, headers=AUTH) as response:
        return response.status, await response.json()


async def start_async(
    http: aiohttp.ClientSession, emu: YandexEmulator, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{emu.stt_async_url}/recognizeFileAsync", json=body, headers=AUTH) as response:
        return response.status, await response.json()


def async_body(audio: bytes, **model: Any) -> dict[str, Any]:
    return {
        "content": base64.b64encode(audio).decode(),
        "recognitionModel": {"model": "general", "audioFormat": OGG, **model},
    }


async def test_sync_recognition_hears_text_bytes_and_logs_the_request(
    http: aiohttp.ClientSession, yandex_emulator: YandexEmulator
) -> None:
    status, body = await recognize(http, yandex_emulator, "Какая сегодня погода?".encode())
    assert (status, body) == (200, {"result": "Какая сегодня погода?"})
    record = yandex_emulator.stt_requests()[-1]
    assert record["api"] == "stt:recognize"
    assert (record["lang"], record["folder"], record["size"], record["status"]) == (
        "auto",
        "b1gtestfolder",
        len("Какая сегодня погода?".encode()),
        200,
    )
    async with http.get(f"{yandex_emulator.root_url}/__emu/stt") as response:
        assert (await response.json())[-1]["text"] == "Какая сегодня погода?"


@pytest.mark.parametrize("audio", [b"", b"\0" * 4096, b"emu:silence", b"\xff\xfe\xfa\x00\x81"])
async def test_silence_and_unreadable_audio_are_recognised_as_nothing(
    http: aiohttp.ClientSession, yandex_emulator: YandexEmulator, audio: bytes
) -> None:
    assert await recognize(http, yandex_emulator, audio) == (200, {"result": ""})


async def test_sync_limits_are_refused_as_speechkit_documents(
    http: aiohttp.ClientSession, yandex_emulator: YandexEmulator
) -> None:
    status, body = await recognize(http, yandex_emulator, b"a" * 1_000_001)
    assert status == 400
    assert body["error_code"] == "INVALID_ARGUMENT" and "1 MB" in body["error_message"]
    assert (await recognize(http, yandex_emulator, b"a" * 1_000_000))[0] == 200
    status, body = await recognize(http, yandex_emulator, b"emu:seconds=45 too long to say")
    assert status == 400 and "30 s" in body["error_message"]
    assert await recognize(http, yandex_emulator, b"emu:seconds=29 fits") == (200, {"result": "fits"})


@pytest.mark.parametrize(
    "params",
    [
        {"lang": "xx-XX"},
        {"format": "mp3"},
        {"topic": "music"},
        {"folderId": "f" * 51},
        {"sampleRateHertz": "16000"},
        {"profanityFilter": "yes"},
    ],
)
async def test_sync_parameters_are_validated(
    http: aiohttp.ClientSession, yandex_emulator: YandexEmulator, params: dict[str, str]
) -> None:
    status, body = await recognize(http, yandex_emulator, b"hello", **params)
    assert status == 400 and body["error_code"] == "INVALID_ARGUMENT"


async def test_language_codes_are_case_insensitive(
    http: aiohttp.ClientSession, yandex_emulator: YandexEmulator
) -> None:
    assert (await recognize(http, yandex_emulator, b"hello", lang="EN-us"))[0] == 200


async def test_auth_and_faults_apply_as_for_v1(
    http: aiohttp.ClientSession, yandex_emulator: YandexEmulator
) -> None:
    async with http.post(yandex_emulator.stt_url, data=b"hello") as response:
        assert response.status == 401
        assert (await response.json())["error_code"] == "UNAUTHENTICATED"
    yandex_emulator.config.api_keys = frozenset({"right"})
    async with http.post(yandex_emulator.stt_url, data=b"hello", headers=AUTH) as response:
        assert response.status == 401
    yandex_emulator.config.api_keys = None
    yandex_emulator.inject_faults(1, 503, ["/speech/v1/stt:recognize"])
    status, body = await recognize(http, yandex_emulator, b"hello")
    assert status == 503 and body["error_code"] == "UNAVAILABLE"
    assert await recognize(http, yandex_emulator, b"emu:fail=429 hello") == (
        429,
        {"error_code": "RESOURCE_EXHAUSTED", "error_message": "Emulated failure with HTTP 429 (emu:fail)."},
    )


async def test_async_recognition_takes_inline_content_and_answers_after_the_operation_is_done(
    http: aiohttp.ClientSession, yandex_emulator: YandexEmulator
) -> None:
    yandex_emulator.config.stt_async_delay = 0.3
    audio = b"emu:seconds=45 First sentence here. And a second one!"
    body = async_body(audio, languageRestriction={"restrictionType": "WHITELIST", "languageCode": ["ru-RU"]})
    status, operation = await start_async(http, yandex_emulator, body)
    assert status == 200
    assert operation["done"] is False and operation["description"] == "STT v3 async recognition"
    url = f"{yandex_emulator.stt_async_url}/getRecognition"
    async with http.get(url, params={"operationId": operation["id"]}, headers=AUTH) as response:
        assert response.status == 400
        assert (await response.json())["code"] == 9  # FAILED_PRECONDITION: not done yet
    await asyncio.sleep(0.35)
    async with http.get(f"{yandex_emulator.operations_url}/{operation['id']}", headers=AUTH) as response:
        done = await response.json()
    assert done["done"] is True and "error" not in done
    async with http.get(url, params={"operation_id": operation["id"]}, headers=AUTH) as response:
        assert response.status == 200
        lines = [json.loads(line) for line in (await response.text()).splitlines()]
    finals = [
        line["result"]["final"]["alternatives"][0]["text"] for line in lines if "final" in line["result"]
    ]
    refined = [
        line["result"]["finalRefinement"]["normalizedText"]["alternatives"][0]["text"]
        for line in lines
        if "finalRefinement" in line["result"]
    ]
    assert finals == refined == ["First sentence here.", "And a second one!"]
    assert "eouUpdate" in lines[-1]["result"]
    record = yandex_emulator.stt_requests()[-1]
    assert record["api"] == "recognizeFileAsync" and record["lang"] == ["ru-RU"]
    assert record["size"] == len(audio) and record["operation_id"] == operation["id"]


@pytest.mark.parametrize(
    "body",
    [
        {"recognitionModel": {"audioFormat": OGG}},
        {
            "content": "aGk=",
            "uri": "https://storage.yandexcloud.net/b/a.ogg",
            "recognitionModel": {"audioFormat": OGG},
        },
        {"content": "not base64!", "recognitionModel": {"audioFormat": OGG}},
        {"content": "aGk="},
        {
            "content": "aGk=",
            "recognitionModel": {"audioFormat": {"containerAudio": {"containerAudioType": "FLAC"}}},
        },
        {"content": "aGk=", "recognitionModel": {"audioFormat": OGG, "model": "whisper"}},
        {"content": "aGk=", "recognitionModel": {"audioFormat": OGG}, "language": "ru-RU"},
        {
            "content": "aGk=",
            "recognitionModel": {
                "audioFormat": OGG,
                "languageRestriction": {"restrictionType": "WHITELIST", "languageCode": ["klingon"]},
            },
        },
    ],
)
async def test_async_requests_are_validated(
    http: aiohttp.ClientSession, yandex_emulator: YandexEmulator, body: dict[str, Any]
) -> None:
    status, error = await start_async(http, yandex_emulator, body)
    assert status == 400 and error["code"] == 3 and error["message"]


async def test_async_takes_mp3_and_refuses_over_60_mb(
    http: aiohttp.ClientSession, yandex_emulator: YandexEmulator
) -> None:
    mp3 = {"containerAudio": {"containerAudioType": "MP3"}}
    status, _ = await start_async(
        http, yandex_emulator, {"content": "aGk=", "recognitionModel": {"audioFormat": mp3}}
    )
    assert status == 200
    status, error = await start_async(http, yandex_emulator, async_body(b"a" * 60_000_001))
    assert status == 400 and "60 MB" in error["message"]


async def test_unknown_operations_are_not_found(
    http: aiohttp.ClientSession, yandex_emulator: YandexEmulator
) -> None:
    async with http.get(f"{yandex_emulator.operations_url}/nope", headers=AUTH) as response:
        assert response.status == 404 and (await response.json())["code"] == 5
    url = f"{yandex_emulator.stt_async_url}/getRecognition"
    async with http.get(url, params={"operationId": "nope"}, headers=AUTH) as response:
        assert response.status == 404


async def test_the_folder_is_checked_as_for_v1(
    http: aiohttp.ClientSession, yandex_emulator: YandexEmulator
) -> None:
    yandex_emulator.config.folder_id = "b1gtestfolder"
    assert (await recognize(http, yandex_emulator, b"hello"))[0] == 200
    status, body = await recognize(http, yandex_emulator, b"hello", folderId="b1gotherfolder")
    assert status == 400 and "does not match with service account folder ID" in body["error_message"]
    headers = {**AUTH, "x-folder-id": "b1gotherfolder"}
    async with http.post(
        f"{yandex_emulator.stt_async_url}/recognizeFileAsync", json=async_body(b"hi"), headers=headers
    ) as response:
        assert response.status == 400 and (await response.json())["code"] == 3
    logged = [r for r in yandex_emulator.requests(limit=10) if r["path"].startswith("/speech/")]
    assert [r["status"] for r in logged] == [200, 400]
