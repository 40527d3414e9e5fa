"""Contract tests of the Yandex emulator's Responses and Conversations API, driven by the real openai client.

Covers the response object, the exact SSE event sequence, file_search citations, request validation,
context (``previous_response_id`` chains, conversations, replayed input items) and expiry.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import aiohttp
import openai
import pytest
from openai.types.responses import (
    ResponseFileSearchToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseStreamEvent,
)
from openai.types.responses.response_output_text import AnnotationFileCitation

from tests.fakes.yandex.server import YandexEmulator

FACTS = (
    "Aurora is the code name of our satellite project.\n"
    "The launch code for project Aurora is 7431.\n"
    "Bananas are yellow and grow in bunches.\n"
)
MESSAGE_EVENTS_HEAD = ["response.output_item.added", "response.content_part.added"]
MESSAGE_EVENTS_TAIL = [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]
FILE_SEARCH_EVENTS = [
    "response.output_item.added",
    "response.file_search_call.in_progress",
    "response.file_search_call.searching",
    "response.file_search_call.completed",
    "response.output_item.done",
]


async def indexed_store(client: openai.AsyncOpenAI, name: str, text: str) -> str:
    file_id = (await client.files.create(file=(name, text.encode(), "text/plain"), purpose="assistants")).id
    store = await client.vector_stores.create(name="chat")
    await client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=store.id)
    return store.id


async def collect(stream: openai.AsyncStream[ResponseStreamEvent]) -> list[ResponseStreamEvent]:
    return [event async for event in stream]


def without_deltas(types: Sequence[str]) -> list[str]:
    """Event types with the run of ``response.output_text.delta`` collapsed to one entry."""
    collapsed: list[str] = []
    for event_type in types:
        if not (event_type == "response.output_text.delta" and collapsed and collapsed[-1] == event_type):
            collapsed.append(event_type)
    return collapsed


async def test_non_streaming_response(openai_client: openai.AsyncOpenAI, yandex_model: str) -> None:
    response = await openai_client.responses.create(
        model=yandex_model, input="How do tides work near the coast?", instructions="Be brief."
    )
    assert uuid.UUID(response.id).version == 4
    assert response.status == "completed"
    assert response.model == yandex_model
    assert response.instructions == "Be brief."
    assert isinstance(response.created_at, float)
    assert response.model_extra is not None and response.model_extra["valid"] is True
    assert '"How do tides work near the coast?"' in response.output_text
    assert response.usage is not None
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    [message] = response.output
    assert isinstance(message, ResponseOutputMessage)
    assert message.content[0].type == "output_text"

    again = await openai_client.responses.create(
        model=yandex_model, input="How do tides work near the coast?"
    )
    assert again.output_text == response.output_text, "answers are deterministic"

    retrieved = await openai_client.responses.retrieve(response.id)
    assert retrieved.output_text == response.output_text
    await openai_client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        await openai_client.responses.retrieve(response.id)


async def test_stream_sends_the_openai_event_sequence(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    events = await collect(
        await openai_client.responses.create(model=yandex_model, input="Tell me about owls", stream=True)
    )
    types = [event.type for event in events]
    assert without_deltas(types) == [
        "response.created",
        "response.in_progress",
        *MESSAGE_EVENTS_HEAD,
        "response.output_text.delta",
        *MESSAGE_EVENTS_TAIL,
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert len(deltas) > 5
    assert all(0 < len(delta.strip()) <= 12 for delta in deltas)
    done = next(event for event in events if event.type == "response.output_text.done")
    completed = events[-1]
    assert completed.type == "response.completed"
    assert "".join(deltas) == done.text == completed.response.output_text
    assert completed.response.status == "completed"
    assert completed.response.usage is not None and completed.response.usage.output_tokens > 0
    assert events[0].type == "response.created" and events[0].response.status == "in_progress"


async def test_stream_wire_format(
    yandex_emulator: YandexEmulator, yandex_model: str, yandex_folder_id: str
) -> None:
    headers = {"Authorization": "Bearer k", "OpenAI-Project": yandex_folder_id}
    body = {"model": yandex_model, "input": "hi", "stream": True}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{yandex_emulator.base_url}/responses", json=body, headers=headers) as response,
    ):
        assert response.headers["Content-Type"].startswith("text/event-stream")
        raw = (await response.read()).decode()
    blocks = [block for block in raw.split("\n\n") if block]
    for number, block in enumerate(blocks):
        event_line, data_line = block.split("\n")
        payload = json.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {payload['type']}"
        assert payload["sequence_number"] == number


async def test_file_search_quotes_the_fact_and_cites_the_file(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    store_id = await indexed_store(openai_client, "facts.txt", FACTS)
    events = await collect(
        await openai_client.responses.create(
            model=yandex_model,
            input="What is the launch code for Aurora?",
            tools=[{"type": "file_search", "vector_store_ids": [store_id], "max_num_results": 3}],
            include=["file_search_call.results"],
            stream=True,
        )
    )
    types = without_deltas([event.type for event in events])
    assert types == [
        "response.created",
        "response.in_progress",
        *FILE_SEARCH_EVENTS,
        *MESSAGE_EVENTS_HEAD,
        "response.output_text.delta",
        "response.output_text.annotation.added",
        *MESSAGE_EVENTS_TAIL,
    ]
    final = events[-1]
    assert final.type == "response.completed"
    call, message = final.response.output
    assert isinstance(call, ResponseFileSearchToolCall) and isinstance(message, ResponseOutputMessage)
    assert call.status == "completed"
    assert call.queries == ["What is the launch code for Aurora?"]
    assert call.results and call.results[0].filename == "facts.txt"
    assert call.results[0].score is not None and call.results[0].score > 0
    assert "7431" in (call.results[0].text or "")
    assert "The launch code for project Aurora is 7431." in final.response.output_text
    [part] = message.content
    assert isinstance(part, ResponseOutputText)
    [annotation] = part.annotations
    assert isinstance(annotation, AnnotationFileCitation)
    assert annotation.filename == "facts.txt" and annotation.file_id == call.results[0].file_id
    assert annotation.index == 0


async def test_stream_helper_accepts_the_events(openai_client: openai.AsyncOpenAI, yandex_model: str) -> None:
    store_id = await indexed_store(openai_client, "facts.txt", FACTS)
    async with openai_client.responses.stream(
        model=yandex_model,
        input="Which colour are bananas?",
        tools=[{"type": "file_search", "vector_store_ids": [store_id]}],
    ) as stream:
        texts = [event.delta async for event in stream if event.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert "".join(texts) == final.output_text
    assert "Bananas are yellow and grow in bunches." in final.output_text


async def test_file_search_without_a_match(openai_client: openai.AsyncOpenAI, yandex_model: str) -> None:
    store_id = await indexed_store(openai_client, "facts.txt", FACTS)
    response = await openai_client.responses.create(
        model=yandex_model,
        input="Explain quantum chromodynamics",
        tools=[{"type": "file_search", "vector_store_ids": [store_id]}],
    )
    call, message = response.output
    assert isinstance(call, ResponseFileSearchToolCall) and isinstance(message, ResponseOutputMessage)
    assert call.results == []
    assert isinstance(message.content[0], ResponseOutputText)
    assert message.content[0].annotations == []
    assert "found nothing about this in the documents" in response.output_text
    assert "quantum chromodynamics" in response.output_text


@pytest.mark.parametrize(
    ("model_template", "param"),
    [
        ("yandexgpt/latest", "model"),
        ("gpt://other-folder/yandexgpt/latest", "model"),
        ("gpt://{folder}/", "model"),
    ],
)
async def test_model_must_name_the_request_folder(
    openai_client: openai.AsyncOpenAI, yandex_folder_id: str, model_template: str, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await openai_client.responses.create(model=model_template.format(folder=yandex_folder_id), input="hi")
    assert caught.value.param == param


async def test_file_search_takes_exactly_one_store(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    first = (await openai_client.vector_stores.create(name="a")).id
    second = (await openai_client.vector_stores.create(name="b")).id
    with pytest.raises(openai.BadRequestError) as caught:
        await openai_client.responses.create(
            model=yandex_model,
            input="hi",
            tools=[{"type": "file_search", "vector_store_ids": [first, second]}],
        )
    assert caught.value.param == "tools"
    with pytest.raises(openai.NotFoundError):
        await openai_client.responses.create(
            model=yandex_model,
            input="hi",
            tools=[{"type": "file_search", "vector_store_ids": [str(uuid.uuid4())]}],
        )


async def test_unknown_context_ids_are_404(openai_client: openai.AsyncOpenAI, yandex_model: str) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(openai.NotFoundError) as caught:
        await openai_client.responses.create(model=yandex_model, input="hi", previous_response_id=missing)
    assert caught.value.code == "previous_response_not_found"
    assert caught.value.param == "previous_response_id"
    assert isinstance(caught.value.body, dict) and set(caught.value.body) == {
        "message",
        "type",
        "param",
        "code",
    }
    with pytest.raises(openai.NotFoundError):
        await openai_client.responses.create(
            model=yandex_model, input="hi", conversation=missing, stream=True
        )


async def test_history_follows_a_previous_response_chain(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    first = await openai_client.responses.create(model=yandex_model, input="emu:history first")
    assert "history=1" in first.output_text
    second = await openai_client.responses.create(
        model=yandex_model, input="second emu:history", previous_response_id=first.id
    )
    assert "history=2" in second.output_text
    third = await openai_client.responses.create(
        model=yandex_model, input="third emu:history", previous_response_id=second.id, stream=True
    )
    final = (await collect(third))[-1]
    assert final.type == "response.completed"
    assert "history=3" in final.response.output_text
    assert final.response.previous_response_id == second.id
    branch = await openai_client.responses.create(
        model=yandex_model, input="branch emu:history", previous_response_id=first.id
    )
    assert "history=2" in branch.output_text


async def test_history_follows_a_conversation(openai_client: openai.AsyncOpenAI, yandex_model: str) -> None:
    conversation = await openai_client.conversations.create(metadata={"chat": "7"})
    assert conversation.metadata == {"chat": "7"}
    first = await openai_client.responses.create(
        model=yandex_model, input="hello emu:history", conversation=conversation.id
    )
    assert "history=1" in first.output_text
    assert first.conversation is not None and first.conversation.id == conversation.id

    items = [item async for item in openai_client.conversations.items.list(conversation.id, order="asc")]
    assert [(item.type, getattr(item, "role", None)) for item in items] == [
        ("message", "user"),
        ("message", "assistant"),
    ]

    added = await openai_client.conversations.items.create(
        conversation.id, items=[{"type": "message", "role": "user", "content": "a note from the user"}]
    )
    assert len(added.data) == 1
    second = await openai_client.responses.create(
        model=yandex_model, input="again emu:history", conversation={"id": conversation.id}
    )
    assert "history=3" in second.output_text
    retrieved = await openai_client.conversations.retrieve(conversation.id)
    assert retrieved.id == conversation.id

    await openai_client.conversations.delete(conversation.id)
    with pytest.raises(openai.NotFoundError):
        await openai_client.conversations.retrieve(conversation.id)


async def test_history_counts_replayed_input_items(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    transcript: list[Any] = [
        {"role": "user", "content": "first question emu:echo"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "input_text", "text": "second question"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "second answer"}]},
        {"role": "user", "content": [{"type": "input_text", "text": "third question emu:history"}]},
    ]
    response = await openai_client.responses.create(
        model=yandex_model, input=transcript, instructions="You are a helpful bot."
    )
    assert "history=3" in response.output_text
    assert '"third question"' in response.output_text
    assert not response.output_text.startswith("first question"), (
        "directives come from the latest user text only"
    )


async def test_store_false_responses_are_not_kept(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    response = await openai_client.responses.create(model=yandex_model, input="hi", store=False)
    assert response.status == "completed"
    with pytest.raises(openai.NotFoundError):
        await openai_client.responses.retrieve(response.id)


async def test_expired_responses_and_conversations_are_404(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    response = await openai_client.responses.create(model=yandex_model, input="hi")
    conversation = await openai_client.conversations.create()
    yandex_emulator.expire(response.id)
    yandex_emulator.expire(conversation.id)

    with pytest.raises(openai.NotFoundError):
        await openai_client.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        await openai_client.responses.create(
            model=yandex_model, input="next", previous_response_id=response.id
        )
    with pytest.raises(openai.NotFoundError):
        await openai_client.responses.create(model=yandex_model, input="next", conversation=conversation.id)


async def test_responses_expire_after_the_ttl(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    response = await openai_client.responses.create(model=yandex_model, input="hi")
    yandex_emulator.config.response_ttl = 0.0
    with pytest.raises(openai.NotFoundError):
        await openai_client.responses.retrieve(response.id)


async def test_expired_store_cannot_be_searched(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    store_id = await indexed_store(openai_client, "facts.txt", FACTS)
    yandex_emulator.expire(store_id)
    with pytest.raises(openai.NotFoundError):
        await openai_client.responses.create(
            model=yandex_model,
            input="launch code",
            tools=[{"type": "file_search", "vector_store_ids": [store_id]}],
        )
