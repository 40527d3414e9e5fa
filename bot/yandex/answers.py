"""AnswerModel over Yandex AI Studio's OpenAI-compatible Responses API (the official `openai` client).

Conversation continuity uses `previous_response_id` chains (see README, "How chats map to Yandex").
Text is streamed from `response.output_text.delta` events; the final `response.completed` event
carries the full response with `output_text`, `file_citation` and `url_citation` annotations and `usage`.
Each request names its chat's model and, when the chat searches the web, carries the `web_search` tool
(`concepts/agents/tools/websearch.md`: `filters.allowed_domains`, `user_location.region`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import openai
from openai import AsyncOpenAI, AsyncStream
from openai.types.responses import Response, ResponseStreamEvent

from bot.core.authors import labelled
from bot.core.errors import ContextLostError, ProviderError, SearchIndexGoneError, StreamBrokenError
from bot.core.models import CompletedAnswer, Usage
from bot.core.ports import AnswerRequest
from bot.metrics import Metrics
from bot.yandex.client import model_uri

log = logging.getLogger(__name__)

CANCEL_TIMEOUT_S = 5.0  # Stop must feel immediate; a slow cancel is abandoned, the stream is closed anyway


@dataclass(frozen=True, slots=True)
class WebSearchOptions:
    """The operator's limits on web search (WEB_SEARCH_DOMAINS, WEB_SEARCH_REGION)."""

    domains: tuple[str, ...] = ()
    region: str | None = None

    def tool(self) -> dict[str, Any]:
        """The `web_search` tool as createResponse documents it: `filters` holds `allowed_domains`
        (up to five), `user_location` a region code; both optional."""
        tool: dict[str, Any] = {"type": "web_search"}
        if self.domains:
            tool["filters"] = {"allowed_domains": list(self.domains)}
        if self.region:
            tool["user_location"] = {"region": self.region}
        return tool


class ResponsesAnswerModel:
    def __init__(
        self,
        client: AsyncOpenAI,
        folder_id: str,
        *,
        web_search: WebSearchOptions = WebSearchOptions(),
        max_search_results: int = 5,
        metrics: Metrics | None = None,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._folder_id = folder_id
        self._web_search = web_search
        self._max_search_results = max_search_results

    async def start(self, request: AnswerRequest) -> ResponsesAnswerStream:
        kwargs: dict[str, Any] = {
            "model": model_uri(self._folder_id, request.model),
            "input": _input_items(request),
            "instructions": request.instructions,
            "stream": True,
        }
        if request.context_handle:
            kwargs["previous_response_id"] = request.context_handle
        tools: list[dict[str, Any]] = []
        if request.search_index:
            tools.append(
                {
                    "type": "file_search",
                    "vector_store_ids": [request.search_index],
                    "max_num_results": self._max_search_results,
                }
            )
            kwargs["include"] = ["file_search_call.results"]
        if request.web_search:
            tools.append(self._web_search.tool())
        if tools:
            kwargs["tools"] = tools
        try:
            stream: AsyncStream[ResponseStreamEvent] = await self._client.responses.create(**kwargs)
        except openai.APIStatusError as error:
            self._count(f"http_{error.status_code}")
            raise _translate_status_error(error, had_context=request.context_handle is not None) from error
        except (openai.APIConnectionError, openai.APITimeoutError) as error:
            self._count("timeout" if isinstance(error, openai.APITimeoutError) else "connection")
            raise ProviderError(f"provider unreachable: {type(error).__name__}", retryable=True) from error
        return ResponsesAnswerStream(self._client, stream, self._count)

    def _count(self, kind: str) -> None:
        if self._metrics is not None:
            self._metrics.provider_errors.labels(kind=kind).inc()


class ResponsesAnswerStream:
    def __init__(
        self,
        client: AsyncOpenAI,
        stream: AsyncStream[ResponseStreamEvent],
        count_error: Callable[[str], None],
    ) -> None:
        self._client = client
        self._count_error = count_error
        self._stream = stream
        self._response_id: str | None = None
        self._result: CompletedAnswer | None = None
        self._cancelled = False

    @property
    def result(self) -> CompletedAnswer | None:
        return self._result

    async def deltas(self) -> AsyncIterator[str]:
        try:
            async for event in self._stream:
                if event.type == "response.created":
                    self._response_id = event.response.id
                elif event.type == "response.output_text.delta":
                    yield event.delta
                elif event.type == "response.completed":
                    self._result = _completed(event.response)
                elif event.type in ("response.failed", "response.incomplete"):
                    raise StreamBrokenError(f"provider ended the answer: {event.type}")
                elif event.type == "error":
                    raise StreamBrokenError(f"provider stream error: {event.code or 'unknown'}")
        except StreamBrokenError:
            self._count_error("stream")
            raise
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if self._cancelled:
                return
            self._count_error("stream")
            raise StreamBrokenError(f"answer stream broke: {type(error).__name__}") from error

    async def cancel(self) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        if self._response_id is not None:
            try:
                await self._client.responses.cancel(self._response_id, timeout=CANCEL_TIMEOUT_S)
            except openai.OpenAIError as error:
                log.info("provider refused to cancel response: %s", type(error).__name__)
        await self._stream.close()

    async def close(self) -> None:
        await self._stream.close()


def _input_items(request: AnswerRequest) -> str | list[dict[str, str]]:
    if not request.replay:
        return request.text
    items = [
        {"role": turn.role, "content": _replayed_text(turn.text, turn.author)} for turn in request.replay
    ]
    items.append({"role": "user", "content": request.text})
    return items


def _replayed_text(text: str, author: str | None) -> str:
    return labelled(text, author)


def _completed(response: Response) -> CompletedAnswer:
    sources: list[str] = []
    web_sources: list[str] = []
    for item in response.output:
        if item.type != "message":
            continue
        for part in item.content:
            if part.type != "output_text":
                continue
            for annotation in part.annotations:
                if annotation.type == "file_citation" and annotation.filename not in sources:
                    sources.append(annotation.filename)
                elif annotation.type == "url_citation" and annotation.url not in web_sources:
                    web_sources.append(annotation.url)
    usage = Usage()
    if response.usage is not None:
        usage = Usage(input_tokens=response.usage.input_tokens, output_tokens=response.usage.output_tokens)
    return CompletedAnswer(
        text=response.output_text,
        context_handle=response.id,
        sources=tuple(sources),
        web_sources=tuple(web_sources),
        usage=usage,
    )


def _translate_status_error(error: openai.APIStatusError, *, had_context: bool) -> ProviderError:
    status = error.status_code
    if status == 404 and _about_search_index(error):
        return SearchIndexGoneError("provider lost the document index")
    if had_context and (status == 404 or _is_previous_response_error(error)):
        return ContextLostError(f"provider lost the conversation ({status})")
    retryable = status == 429 or status >= 500 or status == 408
    return ProviderError(f"provider answered {status}", retryable=retryable, status=status)


def _about_search_index(error: openai.APIStatusError) -> bool:
    param = str(getattr(error, "param", "") or "")
    return param.startswith("tools") or "vector store" in str(error.message).lower()


def _is_previous_response_error(error: openai.APIStatusError) -> bool:
    return error.status_code == 400 and (
        getattr(error, "code", None) == "previous_response_not_found"
        or getattr(error, "param", None) == "previous_response_id"
    )
