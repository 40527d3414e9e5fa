"""Contract tests of the emulator's ``POST /v1/chat/completions``, driven by the real openai client.

The same deterministic answers and ``emu:`` directives as ``/v1/responses``, in OpenAI's
``chat.completion`` / ``chat.completion.chunk`` shapes, streaming and not.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from tests.fakes.yandex.server import YandexEmulator

QUESTION = "How do tides work near the coast?"


def ask(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


async def collect(stream: openai.AsyncStream[ChatCompletionChunk]) -> list[ChatCompletionChunk]:
    return [chunk async for chunk in stream]


def joined(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


async def test_non_streaming_completion_gives_the_responses_answer(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    completion = await openai_client.chat.completions.create(model=yandex_model, messages=ask(QUESTION))
    response = await openai_client.responses.create(model=yandex_model, input=QUESTION)
    assert completion.object == "chat.completion"
    assert completion.model == yandex_model
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == response.output_text
    assert f'"{QUESTION}"' in choice.message.content
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


async def test_stream_sends_role_deltas_and_stop(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    expected = (
        (await openai_client.chat.completions.create(model=yandex_model, messages=ask(QUESTION)))
        .choices[0]
        .message.content
    )
    chunks = await collect(
        await openai_client.chat.completions.create(model=yandex_model, messages=ask(QUESTION), stream=True)
    )
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(chunk.choices[0].finish_reason is None for chunk in chunks[:-1])
    assert len(chunks) > 5  # word-sized deltas
    assert joined(chunks) == expected
    assert all(chunk.usage is None for chunk in chunks)


async def test_stream_with_usage_ends_with_a_usage_chunk(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    chunks = await collect(
        await openai_client.chat.completions.create(
            model=yandex_model,
            messages=ask(QUESTION),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens > 0
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert all(chunk.usage is None for chunk in chunks[:-1])


async def test_stream_ends_with_done(yandex_emulator: YandexEmulator, yandex_model: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{yandex_emulator.base_url}/chat/completions",
            json={"model": yandex_model, "messages": ask("emu:echo hi"), "stream": True},
            headers={"Authorization": "Bearer key"},
        ) as reply,
    ):
        assert reply.headers["Content-Type"].startswith("text/event-stream")
        body = (await reply.read()).decode()
    events = [block for block in body.split("\n\n") if block]
    assert all(block.startswith("data: ") for block in events)
    assert events[-1] == "data: [DONE]"


async def test_directives_apply(openai_client: openai.AsyncOpenAI, yandex_model: str) -> None:
    long = await openai_client.chat.completions.create(
        model=yandex_model, messages=ask("Tell me a lot emu:long=400")
    )
    text = long.choices[0].message.content or ""
    assert 320 <= len(text) <= 480
    assert "\n\n" in text
    echo = await openai_client.chat.completions.create(model=yandex_model, messages=ask("emu:echo ping"))
    assert echo.choices[0].message.content == "ping"


async def test_history_counts_user_messages_of_the_request(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": [{"type": "text", "text": "Second question"}]},
        {"role": "assistant", "content": "Second answer"},
        {"role": "user", "content": "How many so far? emu:history"},
    ]
    completion = await openai_client.chat.completions.create(model=yandex_model, messages=messages)
    assert "history=3" in (completion.choices[0].message.content or "")


async def test_fail_fails_before_streaming(openai_client: openai.AsyncOpenAI, yandex_model: str) -> None:
    with pytest.raises(openai.RateLimitError):
        await openai_client.chat.completions.create(
            model=yandex_model, messages=ask("emu:fail=429"), stream=True
        )
    with pytest.raises(openai.InternalServerError):
        await openai_client.chat.completions.create(model=yandex_model, messages=ask("emu:fail=503"))


async def test_fail_mid_breaks_the_stream_after_some_text(
    openai_client: openai.AsyncOpenAI, yandex_model: str, yandex_emulator: YandexEmulator
) -> None:
    stream = await openai_client.chat.completions.create(
        model=yandex_model, messages=ask("Explain emu:fail_mid emu:long=200"), stream=True
    )
    received: list[ChatCompletionChunk] = []
    with pytest.raises(openai.APIError, match="emu:fail_mid"):
        async for chunk in stream:
            received.append(chunk)
    assert joined(received)
    assert yandex_emulator.responses()[-1]["status"] == "failed"
    with pytest.raises(openai.InternalServerError):
        await openai_client.chat.completions.create(model=yandex_model, messages=ask("Explain emu:fail_mid"))


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "yandexgpt", "messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "gpt://b1gtestfolder/yandexgpt/latest"}, "messages"),
        ({"model": "gpt://b1gtestfolder/yandexgpt/latest", "messages": []}, "messages"),
        (
            {
                "model": "gpt://b1gotherfolder/yandexgpt/latest",
                "messages": [{"role": "user", "content": "hi"}],
            },
            "model",
        ),
    ],
)
async def test_invalid_requests_are_400(
    yandex_emulator: YandexEmulator, body: dict[str, Any], param: str
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{yandex_emulator.base_url}/chat/completions",
            json=body,
            headers={"Authorization": "Bearer key", "OpenAI-Project": "b1gtestfolder"},
        ) as reply,
    ):
        assert reply.status == 400
        error = (await reply.json())["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


async def test_authentication_is_required(yandex_emulator: YandexEmulator, yandex_model: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{yandex_emulator.base_url}/chat/completions",
            json={"model": yandex_model, "messages": ask("hi")},
        ) as reply,
    ):
        assert reply.status == 401
        assert (await reply.json())["error"]["code"] == "invalid_api_key"


async def test_completions_are_logged_but_not_stored(
    openai_client: openai.AsyncOpenAI, yandex_model: str, yandex_emulator: YandexEmulator
) -> None:
    completion = await openai_client.chat.completions.create(
        model=yandex_model, messages=ask(QUESTION), stream=True
    )
    text = joined(await collect(completion))
    record = yandex_emulator.responses()[-1]
    assert record["api"] == "chat.completions"
    assert record["status"] == "completed"
    assert record["input_text"] == QUESTION
    assert record["output_text"] == text
    assert record["started_at"] <= record["first_delta_at"] <= record["completed_at"]
    assert record["deltas"][-1][1] == len(text)
    with pytest.raises(openai.NotFoundError):
        await openai_client.responses.retrieve(record["id"])
