"""Contract tests of the Yandex emulator's ``emu:`` directives, cancellation, fault injection and
introspection, driven by the real openai client."""

from __future__ import annotations

import asyncio
import gc
import itertools
import time
from typing import Any

import aiohttp
import openai
import pytest
from openai.types.responses import ResponseErrorEvent

from tests.fakes.yandex.server import YandexEmulator

INTROSPECTION_FIELDS = {
    "id",
    "conversation_id",
    "previous_response_id",
    "input_text",
    "output_text",
    "status",
    "tools",
    "citations",
    "model",
    "instructions",
    "started_at",
    "first_delta_at",
    "completed_at",
    "deltas",
    "api",
    "client_disconnected_at",
    "headers",
    "error",
    "input",
    "images",
}


async def emu_call(
    emulator: YandexEmulator, method: str, path: str, payload: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """Call an ``/__emu`` endpoint; returns the status and the decoded JSON body."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{emulator.root_url}/__emu/{path}", json=payload) as reply,
    ):
        return reply.status, await reply.json()


async def wait_for_status(emulator: YandexEmulator, response_id: str, timeout: float = 2.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        [record] = [record for record in emulator.responses() if record["id"] == response_id]
        if record["status"] != "in_progress" or time.monotonic() > deadline:
            return str(record["status"])
        await asyncio.sleep(0.01)


async def test_long_gives_about_n_characters_in_paragraphs(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    yandex_emulator.config.chars_per_second = 50_000.0
    for size in (300, 1500):
        response = await openai_client.responses.create(
            model=yandex_model, input=f"Write an essay emu:long={size}"
        )
        assert 0.8 * size <= len(response.output_text) <= 1.2 * size
        assert "\n\n" in response.output_text
        assert response.output_text.rstrip().endswith(".")


async def test_slow_sets_the_pause_between_deltas(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    question = "one two three four five six seven eight nine ten"
    # A full collection landing in the 0.4 s measured would bunch the arrivals (seen: a ~0.3 s pause
    # depending on what else the session had allocated); collect now so it does not.
    gc.collect()
    stream = await openai_client.responses.create(
        model=yandex_model, input=f"{question} emu:echo emu:slow=40", stream=True
    )
    arrivals = [time.monotonic() async for event in stream if event.type == "response.output_text.delta"]
    gaps = sorted(later - earlier for earlier, later in itertools.pairwise(arrivals))
    assert len(gaps) == 9
    assert 0.03 <= gaps[len(gaps) // 2] <= 0.08, "the median gap follows emu:slow=40"


async def test_default_pacing_follows_chars_per_second(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    yandex_emulator.config.chars_per_second = 1000.0
    started = time.monotonic()
    response = await openai_client.responses.create(model=yandex_model, input="pace emu:long=400")
    elapsed = time.monotonic() - started
    expected = yandex_emulator.config.first_delta_delay + len(response.output_text) / 1000.0
    assert expected * 0.9 <= elapsed <= expected + 0.3


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, openai.RateLimitError), (500, openai.InternalServerError), (503, openai.InternalServerError)],
)
async def test_fail_fails_the_request_before_streaming(
    openai_client: openai.AsyncOpenAI,
    yandex_emulator: YandexEmulator,
    yandex_model: str,
    status: int,
    error: type[openai.APIStatusError],
) -> None:
    for stream in (False, True):
        with pytest.raises(error) as caught:
            await openai_client.responses.create(
                model=yandex_model, input=f"boom emu:fail={status}", stream=stream
            )
        assert caught.value.status_code == status
        assert isinstance(caught.value.body, dict) and caught.value.body["message"]
    record = yandex_emulator.responses()[-1]
    assert record["status"] == "failed"
    assert record["input_text"] == f"boom emu:fail={status}"
    with pytest.raises(openai.NotFoundError):
        await openai_client.responses.retrieve(record["id"])


async def test_fail_mid_sends_an_error_event(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    stream = await openai_client.responses.create(model=yandex_model, input="start emu:fail_mid", stream=True)
    events = [event async for event in stream]
    types = [event.type for event in events]
    assert types.count("response.output_text.delta") >= 2
    assert "response.completed" not in types
    error = events[-1]
    assert isinstance(error, ResponseErrorEvent)
    assert error.code == "server_error" and error.param is None
    assert error.sequence_number == len(events) - 1
    record = yandex_emulator.responses()[-1]
    assert record["status"] == "failed"
    assert record["output_text"] and record["completed_at"] is not None

    with pytest.raises(openai.InternalServerError):
        await openai_client.responses.create(model=yandex_model, input="start emu:fail_mid")


async def test_echo_repeats_the_question(openai_client: openai.AsyncOpenAI, yandex_model: str) -> None:
    question = "Render **bold** and `code`\n\n- a list item"
    response = await openai_client.responses.create(model=yandex_model, input=f"emu:echo {question}")
    assert response.output_text == question


async def test_directives_combine(openai_client: openai.AsyncOpenAI, yandex_model: str) -> None:
    started = time.monotonic()
    response = await openai_client.responses.create(
        model=yandex_model, input="Tell me emu:echo emu:history emu:long=200 emu:slow=5"
    )
    elapsed = time.monotonic() - started
    assert response.output_text.startswith("Tell me\n\nhistory=1\n\n")
    assert 160 <= len(response.output_text) <= 240
    deltas = len(response.output_text.split())
    assert elapsed >= deltas * 0.005 * 0.8


async def test_cancel_is_refused_for_a_response_not_created_in_the_background(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    """Yandex cancels only ``background: true`` responses (cancelResponse.md)."""
    stream = await openai_client.responses.create(
        model=yandex_model, input="long story emu:long=3000 emu:slow=30", stream=True
    )
    response_id = ""
    deltas = 0
    async for event in stream:
        if event.type == "response.created":
            response_id = event.response.id
        if event.type == "response.output_text.delta":
            deltas += 1
            if deltas == 2:
                with pytest.raises(openai.BadRequestError) as refused:
                    await openai_client.responses.cancel(response_id)
                assert "background" in refused.value.message
                break
    await stream.close()
    assert await wait_for_status(yandex_emulator, response_id) == "incomplete", "closing the stream stops it"


async def test_cancel_stops_a_background_response(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    created = await openai_client.responses.create(
        model=yandex_model, input="long story emu:long=3000 emu:slow=30", background=True
    )
    assert created.status == "in_progress" and created.background
    await asyncio.sleep(0.2)
    cancelled = await openai_client.responses.cancel(created.id)
    assert cancelled.status == "cancelled"
    partial = (await openai_client.responses.retrieve(created.id)).output_text
    assert 0 < len(partial) < 3000 * 0.8
    await asyncio.sleep(0.1)
    assert (await openai_client.responses.retrieve(created.id)).output_text == partial, "generation stopped"
    assert yandex_emulator.responses()[-1]["status"] == "cancelled"

    follow_up = await openai_client.responses.create(
        model=yandex_model, input="continue emu:history", previous_response_id=created.id
    )
    assert "history=2" in follow_up.output_text, "a cancelled response can still be chained from"
    with pytest.raises(openai.BadRequestError):
        await openai_client.responses.cancel(follow_up.id)

    finished = await openai_client.responses.create(model=yandex_model, input="short", background=True)
    while (await openai_client.responses.retrieve(finished.id)).status == "in_progress":
        await asyncio.sleep(0.02)
    unchanged = await openai_client.responses.cancel(finished.id)
    assert unchanged.status == "completed", "a finished background response is returned unchanged"
    with pytest.raises(openai.BadRequestError) as refused:
        await openai_client.responses.create(model=yandex_model, input="x", background=True, stream=True)
    assert refused.value.param == "background"


async def test_client_disconnect_stops_generation(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    stream = await openai_client.responses.create(
        model=yandex_model, input="go emu:long=3000 emu:slow=20", stream=True
    )
    response_id = ""
    async for event in stream:
        if event.type == "response.created":
            response_id = event.response.id
        if event.type == "response.output_text.delta":
            break
    closed_at = time.time()
    await stream.close()
    assert await wait_for_status(yandex_emulator, response_id) == "incomplete"
    [record] = [record for record in yandex_emulator.responses() if record["id"] == response_id]
    assert len(record["output_text"]) < 300
    assert record["client_disconnected_at"] is not None
    assert 0 <= record["client_disconnected_at"] - closed_at < 0.5


async def test_client_disconnect_is_noticed_while_nothing_is_written(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    yandex_emulator.config.first_delta_delay = 5.0
    stream = await openai_client.responses.create(model=yandex_model, input="slow to start", stream=True)
    response_id = ""
    async for event in stream:
        if event.type == "response.created":
            response_id = event.response.id
            break
    await stream.close()
    assert await wait_for_status(yandex_emulator, response_id, timeout=1.0) == "incomplete"
    [record] = [record for record in yandex_emulator.responses() if record["id"] == response_id]
    assert record["client_disconnected_at"] is not None and record["output_text"] == ""


async def test_injected_faults(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    status, _ = await emu_call(
        yandex_emulator, "POST", "faults", {"count": 2, "status": 503, "paths": ["/v1/responses"]}
    )
    assert status == 200
    await openai_client.files.list()  # other paths are unaffected
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await openai_client.responses.create(model=yandex_model, input="hi")
    assert (await openai_client.responses.create(model=yandex_model, input="hi")).status == "completed"

    yandex_emulator.inject_faults(1, 429)
    with pytest.raises(openai.RateLimitError) as caught:
        await openai_client.files.list()
    assert caught.value.response.headers["retry-after-ms"] == "50"

    yandex_emulator.inject_faults(2, 429, paths=["/v1/responses"])
    retrying = openai_client.with_options(max_retries=2)
    started = time.monotonic()
    assert (await retrying.responses.create(model=yandex_model, input="hi")).status == "completed"
    assert time.monotonic() - started < 1.0, "clients back off briefly"


async def test_injected_delays_hang_the_request_then_serve_it(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    status, _ = await emu_call(yandex_emulator, "POST", "faults", {"count": 1})
    assert status == 400, "a fault needs a status or a delay"
    status, _ = await emu_call(
        yandex_emulator, "POST", "faults", {"count": 1, "delay": 0.3, "paths": ["/v1/responses"]}
    )
    assert status == 200
    impatient = openai_client.with_options(timeout=0.1)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await impatient.responses.create(model=yandex_model, input="held", stream=True)
    assert time.monotonic() - started < 0.3
    await asyncio.sleep(0.4)
    assert yandex_emulator.responses() == [], "abandoned during the hold: dropped, never handled"

    yandex_emulator.inject_delays(1, 0.2, paths=["/v1/responses"])
    started = time.monotonic()
    assert (await openai_client.responses.create(model=yandex_model, input="late")).status == "completed"
    assert time.monotonic() - started >= 0.2, "a patient client is served after the hold"

    yandex_emulator.inject_delays(1, 0.2, paths=["/v1/responses"], status=503)
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError):
        await openai_client.responses.create(model=yandex_model, input="held, then failed")
    assert time.monotonic() - started >= 0.2
    assert (await openai_client.responses.create(model=yandex_model, input="hi")).status == "completed"


async def test_introspection_records(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    await openai_client.responses.create(model=yandex_model, input="warm up the client")
    yandex_emulator.config.first_delta_delay = 0.2
    conversation = await openai_client.conversations.create()
    first = await openai_client.responses.create(
        model=yandex_model, input="first emu:history", conversation=conversation.id, stream=True
    )
    [event async for event in first]
    second = await openai_client.responses.create(model=yandex_model, input="second")

    _, records = await emu_call(yandex_emulator, "GET", "responses?limit=2")
    assert await emu_call(yandex_emulator, "GET", "vector_stores") == (200, [])
    assert records == yandex_emulator.responses(limit=2)
    older, newer = records
    assert set(older) == INTROSPECTION_FIELDS
    assert newer["id"] == second.id
    assert older["conversation_id"] == conversation.id
    assert older["previous_response_id"] is None
    assert older["input_text"] == "first emu:history"
    assert older["input"] == [{"role": "user", "text": "first emu:history"}]
    assert older["images"] == []
    assert "history=1" in older["output_text"]
    assert older["status"] == "completed"
    assert older["tools"] == []
    assert 0.19 <= older["first_delta_at"] - older["started_at"] <= 0.3
    assert older["first_delta_at"] <= older["completed_at"] <= newer["started_at"]

    assert (await emu_call(yandex_emulator, "POST", "reset"))[0] == 200
    assert yandex_emulator.responses() == []
    with pytest.raises(openai.NotFoundError):
        await openai_client.conversations.retrieve(conversation.id)


async def collect(stream: Any) -> list[Any]:
    return [event async for event in stream]


async def test_incomplete_ends_after_some_text_with_the_output_limit_reason(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    events = await collect(
        await openai_client.responses.create(
            model=yandex_model, input="write a lot emu:long=600 emu:incomplete", stream=True
        )
    )
    types = [event.type for event in events]
    assert "response.completed" not in types
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.incomplete",
    ]
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    final = events[-1].response
    assert final.status == "incomplete"
    assert final.incomplete_details is not None and final.incomplete_details.reason == "max_output_tokens"
    assert 100 < len(text) < 500 and final.output_text == text
    assert final.usage is not None and final.usage.output_tokens > 0
    assert yandex_emulator.responses()[-1]["status"] == "incomplete"

    whole = await openai_client.responses.create(
        model=yandex_model, input="again emu:long=600 emu:incomplete"
    )
    assert whole.status == "incomplete" and whole.incomplete_details is not None
    assert whole.incomplete_details.reason == "max_output_tokens" and whole.output_text


async def test_filtered_ends_before_any_text_with_the_content_filter_reason(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    events = await collect(
        await openai_client.responses.create(
            model=yandex_model, input="something bad emu:filtered", stream=True
        )
    )
    assert [event.type for event in events] == [
        "response.created",
        "response.in_progress",
        "response.incomplete",
    ]
    final = events[-1].response
    assert final.incomplete_details is not None and final.incomplete_details.reason == "content_filter"
    assert final.output == [] and final.output_text == ""


async def test_failed_ends_before_any_text_with_response_failed(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    events = await collect(
        await openai_client.responses.create(model=yandex_model, input="break emu:failed", stream=True)
    )
    assert [event.type for event in events] == ["response.created", "response.in_progress", "response.failed"]
    final = events[-1].response
    assert final.status == "failed" and final.error is not None and final.error.code == "server_error"
    assert yandex_emulator.responses()[-1]["status"] == "failed"
    with pytest.raises(openai.InternalServerError):
        await openai_client.responses.create(model=yandex_model, input="break emu:failed")


async def test_refusal_streams_refusal_deltas_in_a_refusal_part(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    events = await collect(
        await openai_client.responses.create(model=yandex_model, input="say no emu:refusal", stream=True)
    )
    types = [event.type for event in events]
    assert "response.output_text.delta" not in types
    refused = "".join(event.delta for event in events if event.type == "response.refusal.delta")
    assert refused.startswith('You asked: "say no".')
    assert types[-4:] == [
        "response.refusal.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = events[-1].response
    [message] = final.output
    assert message.type == "message"
    [part] = message.content
    assert part.type == "refusal" and part.refusal == refused
    assert final.output_text == ""
    assert yandex_emulator.responses()[-1]["output_text"] == refused


async def test_a_prompt_over_the_context_size_fails_and_is_recorded(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    yandex_emulator.config.context_tokens = 300
    first = await openai_client.responses.create(model=yandex_model, input="a" * 400)
    with pytest.raises(openai.BadRequestError) as refused:
        # The chain (400 characters of input plus the answer) and 800 more: over 300 tokens.
        await openai_client.responses.create(
            model=yandex_model, input="b" * 800, previous_response_id=first.id, stream=True
        )
    assert "exceeded prompt length" in refused.value.message
    record = yandex_emulator.responses()[-1]
    assert record["status"] == "failed" and record["input_text"] == "b" * 800
    assert record["error"]["http_status"] == 400 and "exceeded prompt length" in record["error"]["message"]
    assert yandex_emulator.responses()[0]["error"] is None

    instructions = "x" * 1300
    with pytest.raises(openai.BadRequestError, match="exceeded prompt length"):
        await openai_client.responses.create(model=yandex_model, input="hi", instructions=instructions)


@pytest.mark.parametrize("mode", ["zero", "null"])
async def test_usage_can_be_zero_or_null(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str, mode: str
) -> None:
    yandex_emulator.config.usage = "zero" if mode == "zero" else "null"
    events = await collect(await openai_client.responses.create(model=yandex_model, input="hi", stream=True))
    final = events[-1].response
    retrieved = await openai_client.responses.retrieve(final.id)
    for response in (final, retrieved):
        if mode == "null":
            assert response.usage is None
        else:
            assert response.usage is not None
            assert (
                response.usage.input_tokens,
                response.usage.output_tokens,
                response.usage.total_tokens,
            ) == (
                0,
                0,
                0,
            )
