"""The bot's Responses adapter (bot.yandex.answers: raw server-sent events, no per-event models)
against the emulator, through the real openai client: every ending, every error translation. Every
test runs on both of the client's HTTP backends: httpx's own transport (the bot's other Yandex calls,
and answers behind a proxy) and aiohttp (the bot's answer streams, see bot.yandex.client)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import openai
import pytest

from bot.core.errors import (
    ContextLostError,
    PromptTooLongError,
    ProviderError,
    SearchIndexGoneError,
    StreamBrokenError,
)
from bot.core.models import CompletedAnswer, Ending, Turn
from bot.core.ports import AnswerRequest, CompletionRequest
from bot.yandex.answers import ResponsesAnswerModel, ResponsesAnswerStream, body_chunks
from tests.fakes.yandex.server import YandexEmulator

BACKENDS = ("httpx", "aiohttp")


def http_client(backend: str) -> openai.DefaultAsyncHttpxClient:
    return openai.DefaultAioHttpClient() if backend == "aiohttp" else openai.DefaultAsyncHttpxClient()


@pytest.fixture(params=BACKENDS)
async def model(
    request: pytest.FixtureRequest,
    yandex_emulator: YandexEmulator,
    yandex_api_key: str,
    yandex_folder_id: str,
) -> AsyncIterator[ResponsesAnswerModel]:
    client = openai.AsyncOpenAI(
        base_url=yandex_emulator.base_url,
        api_key=yandex_api_key,
        project=yandex_folder_id,
        max_retries=0,
        http_client=http_client(request.param),
    )
    try:
        yield ResponsesAnswerModel(
            client, lambda name: f"gpt://{yandex_folder_id}/{name or 'yandexgpt/latest'}"
        )
    finally:
        await client.close()


async def read(stream: ResponsesAnswerStream) -> tuple[list[str], CompletedAnswer | None]:
    try:
        deltas = [delta async for delta in stream.deltas()]
    finally:
        await stream.close()
    return deltas, stream.result


def ask(text: str, **fields: object) -> AnswerRequest:
    return AnswerRequest(text=text, instructions="be brief", **fields)  # type: ignore[arg-type]


async def test_a_completed_answer_streams_its_text_and_ends_with_usage_and_a_chain_handle(
    model: ResponsesAnswerModel, yandex_emulator: YandexEmulator
) -> None:
    deltas, result = await read(await model.start(ask("Tell me about herons emu:long=300")))
    record = yandex_emulator.responses()[-1]
    assert len(deltas) > 10 and "".join(deltas) == record["output_text"]
    assert result is not None and result.ending is Ending.COMPLETED
    assert result.text == record["output_text"] and result.context_handle == record["id"]
    assert result.usage is not None and result.usage.input_tokens > 0 and not result.usage.approximate
    assert record["client_disconnected_at"] is None, "read to the end, never closed early"

    deltas, chained = await read(
        await model.start(ask("and then? emu:history", context_handle=result.context_handle))
    )
    assert chained is not None and "history=2" in chained.text


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_aiohttp_backend_is_read_from_aiohttps_own_stream(
    backend: str, yandex_emulator: YandexEmulator, yandex_api_key: str, yandex_folder_id: str
) -> None:
    """The answer client's chunks skip httpx's layers (bot.yandex.answers.body_chunks); should openai's
    transport change so that its stream cannot be found, this fails instead of quietly costing more."""
    client = openai.AsyncOpenAI(
        base_url=yandex_emulator.base_url,
        api_key=yandex_api_key,
        project=yandex_folder_id,
        max_retries=0,
        http_client=http_client(backend),
    )
    try:
        raw = await client.responses.with_streaming_response.create(
            model=f"gpt://{yandex_folder_id}/yandexgpt/latest", input="hi", stream=True
        ).__aenter__()
        try:
            chunks = body_chunks(raw.http_response)
            from_aiohttp = getattr(chunks, "__qualname__", "") == "_aiohttp_chunks"
            assert from_aiohttp == (backend == "aiohttp")
            assert b"response.completed" in b"".join([chunk async for chunk in chunks])
        finally:
            await raw.close()
    finally:
        await client.close()


def slow_client(emulator: YandexEmulator, api_key: str, folder_id: str, backend: str) -> openai.AsyncOpenAI:
    """A client that waits at most 0.4 s for each read (the bot's YC_TIMEOUT_SECONDS, made short)."""
    return openai.AsyncOpenAI(
        base_url=emulator.base_url,
        api_key=api_key,
        project=folder_id,
        max_retries=0,
        timeout=0.4,
        http_client=http_client(backend),
    )


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_read_timeout_is_per_read_not_per_answer(
    backend: str, yandex_emulator: YandexEmulator, yandex_api_key: str, yandex_folder_id: str
) -> None:
    """Deltas every 0.2 s keep a 0.4-s read timeout at bay for a whole answer of several seconds; a
    pause of 1.5 s between two deltas breaks the stream after about 0.4 s of silence."""
    client = slow_client(yandex_emulator, yandex_api_key, yandex_folder_id, backend)
    model = ResponsesAnswerModel(client, lambda name: f"gpt://{yandex_folder_id}/yandexgpt/latest")
    try:
        started = time.monotonic()
        deltas, result = await read(await model.start(ask("herons emu:long=60 emu:slow=200")))
        assert result is not None and "".join(deltas) == result.text
        assert time.monotonic() - started > 1.0, "longer than the timeout: only each read is bounded"

        stream = await model.start(ask("herons emu:long=60 emu:slow=1500"))
        started = time.monotonic()
        with pytest.raises(StreamBrokenError):
            await read(stream)
        assert 0.3 < time.monotonic() - started < 1.4
    finally:
        await client.close()


async def test_a_new_chain_opens_with_the_summary_as_a_developer_message(
    model: ResponsesAnswerModel, openai_client: openai.AsyncOpenAI
) -> None:
    request = ask(
        "third emu:history",
        summary="Summary of the earlier part: the user likes herons.",
        replay=(Turn("user", "second"), Turn("assistant", "Herons are birds.")),
    )
    _, result = await read(await model.start(request))
    assert result is not None and "history=2" in result.text, "the summary is not a user message"
    items = [
        item
        async for item in openai_client.responses.input_items.list(result.context_handle or "", order="asc")
    ]
    assert [getattr(item, "role", None) for item in items] == ["developer", "user", "assistant", "user"]


async def test_a_chosen_model_is_asked(
    model: ResponsesAnswerModel, openai_client: openai.AsyncOpenAI
) -> None:
    _, result = await read(await model.start(ask("hi", model="yandexgpt-lite/latest")))
    assert result is not None
    assert (await openai_client.responses.retrieve(result.context_handle or "")).model.endswith(
        "/yandexgpt-lite/latest"
    )


async def test_cited_documents_become_sources_and_search_results_are_measured(
    model: ResponsesAnswerModel, openai_client: openai.AsyncOpenAI
) -> None:
    uploaded = await openai_client.files.create(
        file=("notes.md", b"# Notes\n\nThe heron nests near the old mill.", "text/markdown"),
        purpose="assistants",
    )
    store = await openai_client.vector_stores.create(name="chat", file_ids=[uploaded.id])
    while (await openai_client.vector_stores.retrieve(store.id)).status != "completed":
        await asyncio.sleep(0.02)
    _, result = await read(await model.start(ask("Where does the heron nest?", search_index=store.id)))
    assert result is not None and "old mill" in result.text
    assert result.sources == ("notes.md",) and result.retrieved_chars > 20


async def test_a_refusal_is_the_answer(model: ResponsesAnswerModel) -> None:
    deltas, result = await read(await model.start(ask("say no emu:refusal")))
    assert result is not None and result.ending is Ending.COMPLETED
    assert result.text == "".join(deltas) and result.text.startswith('You asked: "say no"')


async def test_incomplete_endings_keep_their_reason(model: ResponsesAnswerModel) -> None:
    deltas, cut = await read(await model.start(ask("long emu:long=600 emu:incomplete")))
    assert cut is not None and cut.ending is Ending.CUT_BY_LENGTH
    assert deltas and cut.text == "".join(deltas) and cut.usage is not None
    deltas, filtered = await read(await model.start(ask("bad emu:filtered")))
    assert (
        deltas == [] and filtered is not None and filtered.ending is Ending.DECLINED and filtered.text == ""
    )


async def test_failures_inside_the_stream_raise_before_or_after_text(model: ResponsesAnswerModel) -> None:
    stream = await model.start(ask("break emu:failed"))
    with pytest.raises(StreamBrokenError):
        await read(stream)
    stream = await model.start(ask("break later emu:long=400 emu:fail_mid"))
    received: list[str] = []
    with pytest.raises(StreamBrokenError):
        async for delta in stream.deltas():
            received.append(delta)
    await stream.close()
    assert received, "text came before the error event"


@pytest.mark.parametrize("mode", ["zero", "null"])
async def test_missing_usage_reads_as_none(
    model: ResponsesAnswerModel, yandex_emulator: YandexEmulator, mode: str
) -> None:
    yandex_emulator.config.usage = "zero" if mode == "zero" else "null"
    _, result = await read(await model.start(ask("hi")))
    assert result is not None and result.text and result.usage is None


async def test_http_errors_are_translated(
    model: ResponsesAnswerModel, yandex_emulator: YandexEmulator
) -> None:
    with pytest.raises(ContextLostError):
        await model.start(ask("hi", context_handle="2c1b3c9e-0000-4000-8000-000000000000"))
    with pytest.raises(SearchIndexGoneError):
        await model.start(ask("hi", search_index="2c1b3c9e-0000-4000-8000-000000000001"))
    for status, retryable in ((429, True), (503, True), (500, True), (400, False), (403, False)):
        yandex_emulator.inject_faults(1, status, ["/v1/responses"])
        with pytest.raises(ProviderError) as caught:
            await model.start(ask("hi"))
        assert (caught.value.status, caught.value.retryable) == (status, retryable)
        assert not isinstance(caught.value, PromptTooLongError | ContextLostError)


async def test_a_prompt_over_the_context_is_told_apart_with_or_without_a_chain(
    model: ResponsesAnswerModel, yandex_emulator: YandexEmulator
) -> None:
    _, first = await read(await model.start(ask("a" * 600)))
    assert first is not None
    yandex_emulator.config.context_tokens = 200
    with pytest.raises(PromptTooLongError) as chained:
        await model.start(ask("more", context_handle=first.context_handle))
    assert chained.value.status == 400 and not chained.value.retryable
    with pytest.raises(PromptTooLongError):
        await model.start(ask("b" * 1000))


@pytest.mark.parametrize("backend", BACKENDS)
async def test_unreachable_provider_is_retryable(yandex_folder_id: str, backend: str) -> None:
    client = openai.AsyncOpenAI(
        base_url="http://127.0.0.1:9/v1",
        api_key="k",
        project=yandex_folder_id,
        max_retries=0,
        http_client=http_client(backend),
    )
    model = ResponsesAnswerModel(client, lambda name: f"gpt://{yandex_folder_id}/yandexgpt/latest")
    with pytest.raises(ProviderError) as caught:
        await model.start(ask("hi"))
    assert caught.value.retryable
    await client.close()


async def test_closing_a_stream_early_stops_it_without_a_cancel_request_or_an_error_log(
    model: ResponsesAnswerModel, yandex_emulator: YandexEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stream = await model.start(ask("long story emu:long=3000 emu:slow=20"))

    async def reader() -> None:
        async for _ in stream.deltas():
            pass

    reading = asyncio.create_task(reader())
    while not yandex_emulator.responses()[-1]["output_text"]:
        await asyncio.sleep(0.01)
    reading.cancel()  # as a stopped answer's reader is
    await asyncio.gather(reading, return_exceptions=True)
    closed_at = time.time()
    await stream.close()
    record = yandex_emulator.responses()[-1]
    deadline = time.monotonic() + 2
    while record["status"] == "in_progress" and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        record = yandex_emulator.responses()[-1]
    assert record["status"] == "incomplete" and len(record["output_text"]) < 3000 * 0.8
    assert record["client_disconnected_at"] is not None and record["client_disconnected_at"] - closed_at < 0.5
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert len(yandex_emulator.responses()) == 1, "no cancel request, no other request"


async def test_a_one_off_completion_returns_the_whole_answer(
    model: ResponsesAnswerModel, yandex_emulator: YandexEmulator
) -> None:
    done = await model.complete(
        CompletionRequest(instructions="summarize", text="User: hi", max_output_tokens=100)
    )
    assert done.text.startswith('You asked: "User: hi"') and done.ending is Ending.COMPLETED
    assert done.usage is not None and done.usage.output_tokens > 0
    cut = await model.complete(
        CompletionRequest(
            instructions="summarize", text="x emu:long=500 emu:incomplete", max_output_tokens=10
        )
    )
    assert cut.ending is Ending.CUT_BY_LENGTH and cut.text
    with pytest.raises(ProviderError) as failed:  # the emulator answers a failed one-off with HTTP 500
        await model.complete(CompletionRequest(instructions="s", text="emu:failed", max_output_tokens=10))
    assert failed.value.retryable and failed.value.status == 500
    yandex_emulator.config.context_tokens = 50
    with pytest.raises(PromptTooLongError):
        await model.complete(CompletionRequest(instructions="s", text="y" * 400, max_output_tokens=10))
    yandex_emulator.config.usage = "null"
    yandex_emulator.config.context_tokens = 32768
    assert (await model.complete(CompletionRequest("s", "hi", 10))).usage is None
