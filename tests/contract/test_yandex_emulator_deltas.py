"""The emulator's per-delta timestamps in ``GET /__emu/responses`` (``deltas: [[at, total_chars], ...]``),
which benchmarks use to tell when the model had produced the text a Telegram frame shows."""

from __future__ import annotations

import aiohttp
import openai
import pytest

from tests.fakes.yandex.server import YandexEmulator


async def test_every_delta_is_recorded_with_its_time_and_running_length(
    openai_client: openai.AsyncOpenAI, yandex_model: str, yandex_emulator: YandexEmulator
) -> None:
    stream = await openai_client.responses.create(
        model=yandex_model, input="Describe the sea emu:long=200", stream=True
    )
    pieces = [event.delta async for event in stream if event.type == "response.output_text.delta"]
    record = yandex_emulator.responses()[-1]
    deltas = record["deltas"]
    assert record["api"] == "responses"
    assert len(deltas) == len(pieces)
    totals = [chars for _, chars in deltas]
    assert totals == [sum(len(piece) for piece in pieces[: index + 1]) for index in range(len(pieces))]
    assert totals[-1] == len(record["output_text"])
    times = [at for at, _ in deltas]
    assert times == sorted(times)
    assert times[0] == record["first_delta_at"]
    assert record["started_at"] <= times[0] and times[-1] <= record["completed_at"]


async def test_deltas_are_served_over_http(
    openai_client: openai.AsyncOpenAI, yandex_model: str, yandex_emulator: YandexEmulator
) -> None:
    await openai_client.responses.create(model=yandex_model, input="emu:echo one two three")
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{yandex_emulator.root_url}/__emu/responses?limit=1") as reply,
    ):
        (record,) = await reply.json()
    assert [chars for _, chars in record["deltas"]] == [3, 7, 13]
    assert all(isinstance(at, float) for at, _ in record["deltas"])


async def test_a_failed_request_has_no_deltas(
    openai_client: openai.AsyncOpenAI, yandex_model: str, yandex_emulator: YandexEmulator
) -> None:
    with pytest.raises(openai.InternalServerError):
        await openai_client.responses.create(model=yandex_model, input="emu:fail=500")
    record = yandex_emulator.responses()[-1]
    assert record["status"] == "failed"
    assert record["deltas"] == []
