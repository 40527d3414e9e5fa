"""Contract tests of the emulator's ``web_search`` tool, driven by the real openai client.

What Yandex documents (``concepts/agents/tools/websearch.md``, ``responses/createResponse.md``): the
tool's optional ``filters.allowed_domains`` (up to five), ``user_location.region`` and
``search_context_size`` (low/medium/high); a ``web_search_call`` output item; ``url_citation``
annotations whose only meaningful field is ``url``. See ``tests/fakes/yandex/websearch.py``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import openai
import pytest
from openai.types.responses import ResponseFunctionWebSearch, ResponseOutputMessage, ResponseOutputText
from openai.types.responses.response_function_web_search import ActionSearch
from openai.types.responses.response_output_text import AnnotationFileCitation, AnnotationURLCitation

from tests.fakes.yandex.server import YandexEmulator

QUESTION = "What is new in Kestrel today?"
WEB_SEARCH_EVENTS = [
    "response.output_item.added",
    "response.web_search_call.in_progress",
    "response.web_search_call.searching",
    "response.web_search_call.completed",
    "response.output_item.done",
]


def page(host: str, question: str = QUESTION) -> str:
    return f"https://{host}/{hashlib.sha256(question.encode()).hexdigest()[:12]}"


def url_citations(message: ResponseOutputMessage) -> list[AnnotationURLCitation]:
    part = message.content[0]
    assert isinstance(part, ResponseOutputText)
    return [a for a in part.annotations if isinstance(a, AnnotationURLCitation)]


async def test_web_search_yields_a_call_item_and_url_citations(
    openai_client: openai.AsyncOpenAI, yandex_model: str, yandex_emulator: YandexEmulator
) -> None:
    response = await openai_client.responses.create(
        model=yandex_model, input=QUESTION, tools=[{"type": "web_search"}]
    )
    call, message = response.output
    assert isinstance(call, ResponseFunctionWebSearch) and isinstance(message, ResponseOutputMessage)
    assert call.status == "completed"
    assert isinstance(call.action, ActionSearch)
    assert call.action.query == QUESTION
    assert [source.url for source in call.action.sources or []] == [page("example.org")]
    (citation,) = url_citations(message)
    # Yandex fills only `url`; the other fields keep OpenAI's defaults.
    assert (citation.url, citation.start_index, citation.end_index, citation.title) == (
        page("example.org"),
        0,
        0,
        "",
    )
    assert "I searched the web and found 1 page about this." in response.output_text
    record = yandex_emulator.responses()[-1]
    assert record["tools"] == [{"type": "web_search"}]
    assert record["citations"] == [
        {"type": "url_citation", "url": page("example.org"), "start_index": 0, "end_index": 0, "title": ""}
    ]


async def test_documented_filters_region_and_context_size_are_accepted(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    api_reference_form: Any = {
        "type": "web_search",
        "filters": {"allowed_domains": ["news.example.com", "habr.ru"]},
        "user_location": {"region": "213"},
        "search_context_size": "low",
    }
    response = await openai_client.responses.create(
        model=yandex_model, input=QUESTION, tools=[api_reference_form]
    )
    message = response.output[-1]
    assert isinstance(message, ResponseOutputMessage)
    assert [c.url for c in url_citations(message)] == [page("news.example.com"), page("habr.ru")]
    # The concept page's example nests user_location in filters.
    concept_page_form: Any = {
        "type": "web_search",
        "filters": {"allowed_domains": ["habr.ru"], "user_location": {"region": "213"}},
        "search_context_size": "medium",
    }
    response = await openai_client.responses.create(
        model=yandex_model, input=QUESTION, tools=[concept_page_form]
    )
    assert response.status == "completed"


@pytest.mark.parametrize(
    ("tool", "reason"),
    [
        ({"filters": {"allowed_domains": [f"d{i}.example.com" for i in range(6)]}}, "up to 5 domains"),
        ({"filters": {"allowed_domains": ["https://habr.ru/news"]}}, "is not a domain"),
        ({"filters": {"allowed_domains": "habr.ru"}}, "must be a list"),
        ({"filters": {"blocked_domains": ["habr.ru"]}}, "does not support blocked_domains"),
        ({"user_location": {"region": "Moscow"}}, "region code"),
        ({"user_location": {"type": "approximate", "city": "Moscow"}}, "supports only region"),
        ({"search_context_size": "huge"}, "low, medium, high"),
        ({"max_results": 3}, "does not support max_results"),
        (
            {"user_location": {"region": "213"}, "filters": {"user_location": {"region": "2"}}},
            "once",
        ),
    ],
)
async def test_undocumented_or_invalid_web_search_fields_are_refused(
    openai_client: openai.AsyncOpenAI, yandex_model: str, tool: dict[str, Any], reason: str
) -> None:
    tools: Any = [{"type": "web_search", **tool}]
    with pytest.raises(openai.BadRequestError) as error:
        await openai_client.responses.create(model=yandex_model, input=QUESTION, tools=tools)
    assert error.value.status_code == 400
    assert isinstance(error.value.body, dict) and error.value.body.get("param") == "tools"
    assert reason in str(error.value.message)


async def test_a_second_web_search_tool_is_refused(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    tools: Any = [{"type": "web_search"}, {"type": "web_search"}]
    with pytest.raises(openai.BadRequestError):
        await openai_client.responses.create(model=yandex_model, input=QUESTION, tools=tools)


async def test_the_web_directive_sets_how_many_pages_are_found(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    tools: Any = [{"type": "web_search", "filters": {"allowed_domains": ["habr.ru"]}}]
    three = await openai_client.responses.create(
        model=yandex_model, input=f"{QUESTION} emu:web=3", tools=tools
    )
    message = three.output[-1]
    assert isinstance(message, ResponseOutputMessage)
    assert [c.url for c in url_citations(message)] == [
        page("habr.ru"),
        page("s2.habr.ru"),
        page("s3.habr.ru"),
    ]
    none = await openai_client.responses.create(
        model=yandex_model, input=f"{QUESTION} emu:web=0", tools=tools
    )
    assert "I found nothing about this on the web." in none.output_text
    call = none.output[0]
    assert isinstance(call, ResponseFunctionWebSearch) and isinstance(call.action, ActionSearch)
    assert call.action.sources == []


async def test_streamed_web_search_events_then_the_message_with_its_citations(
    openai_client: openai.AsyncOpenAI, yandex_model: str
) -> None:
    stream = await openai_client.responses.create(
        model=yandex_model, input=QUESTION, tools=[{"type": "web_search"}], stream=True
    )
    events = [event async for event in stream]
    types = [event.type for event in events]
    assert types[2:7] == WEB_SEARCH_EVENTS
    added, done = events[2], events[6]
    assert added.type == "response.output_item.added" and added.output_index == 0
    assert added.item.type == "web_search_call" and added.item.status == "in_progress"
    assert done.type == "response.output_item.done" and done.item.type == "web_search_call"
    assert done.item.status == "completed"
    text_events = [e for e in events if e.type == "response.output_text.delta"]
    assert text_events and all(e.output_index == 1 for e in text_events)
    annotations = [e for e in events if e.type == "response.output_text.annotation.added"]
    assert [getattr(a.annotation, "url", None) for a in annotations] == [page("example.org")]
    final = events[-1]
    assert final.type == "response.completed"
    assert [item.type for item in final.response.output] == ["web_search_call", "message"]


async def test_with_documents_both_tools_run_and_document_citations_come_first(
    openai_client: openai.AsyncOpenAI, yandex_model: str, yandex_emulator: YandexEmulator
) -> None:
    text = b"The Kestrel ferry leaves at nine every morning.\n"
    file_id = (
        await openai_client.files.create(file=("ferry.md", text, "text/markdown"), purpose="assistants")
    ).id
    store = await openai_client.vector_stores.create(name="chat")
    await openai_client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=store.id)
    question = "When does the Kestrel ferry leave?"
    response = await openai_client.responses.create(
        model=yandex_model,
        input=question,
        tools=[{"type": "file_search", "vector_store_ids": [store.id]}, {"type": "web_search"}],
    )
    assert [item.type for item in response.output] == ["file_search_call", "web_search_call", "message"]
    message = response.output[-1]
    assert isinstance(message, ResponseOutputMessage)
    part = message.content[0]
    assert isinstance(part, ResponseOutputText)
    assert [type(a) for a in part.annotations] == [AnnotationFileCitation, AnnotationURLCitation]
    assert "ferry.md" in response.output_text and "I searched the web" in response.output_text
    assert [c["type"] for c in yandex_emulator.responses()[-1]["citations"]] == [
        "file_citation",
        "url_citation",
    ]
