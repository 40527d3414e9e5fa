"""AnswerModel over Yandex AI Studio's OpenAI-compatible Responses API (the official `openai` client).

Conversation continuity uses `previous_response_id` chains (see README, "How it maps to Yandex AI
Studio"); a new chain opens with the conversation's summary as a `developer` message (Yandex's
manage-context guide uses that role) and the recent turns carried over.

The answer stream is read as raw server-sent events: the client only sends the request and checks
its status (HTTP errors raise as usual), and no pydantic model is built per event. The body's bytes are
split into lines here (`server_sent_events`), not by the client's text and line iterators (three more
layers of generators per event, a fifth of the reading cost in the bench's profile). Only the events the
bot uses are decoded — `response.created` (the id, for logs), `response.output_text.delta` and
`response.refusal.delta` (the text: a refusal is shown as the model's answer), and the endings
`response.completed` / `response.incomplete` (the final response: output text, `file_citation` and
`url_citation` annotations, usage, `incomplete_details`) and `response.failed` / `error` (the error).
Every other event is skipped by its `event:` line without parsing its data. Each request names its
chat's model and, when the chat searches the web, carries the `web_search` tool
(`concepts/agents/tools/websearch.md`: `filters.allowed_domains`, `user_location.region`). Stop closes the stream:
Yandex cancels only background responses (`cancelResponse.md`), so no cancel request is sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx2
import openai
from aiohttp import SocketTimeoutError
from openai import AsyncOpenAI
from openai._response import AsyncAPIResponse

from bot.core.authors import labelled
from bot.core.errors import (
    ContextLostError,
    PromptTooLongError,
    ProviderError,
    SearchIndexGoneError,
    StreamBrokenError,
)
from bot.core.models import CompletedAnswer, Ending, Usage, WebSource
from bot.core.ports import AnswerRequest, CompletionRequest
from bot.metrics import Metrics

log = logging.getLogger(__name__)

# Events whose data the reader decodes; any other event is skipped by its `event:` line alone.
_TEXT_EVENTS = frozenset({"response.output_text.delta", "response.refusal.delta"})
_DECODED_EVENTS = _TEXT_EVENTS | {
    "response.created",
    "response.completed",
    "response.incomplete",
    "response.failed",
    "error",
}
# The same names as the bytes of an `event:` line's value, compared before anything is decoded.
_DECODED_EVENT_BYTES = frozenset(name.encode() for name in _DECODED_EVENTS)
_JSON = json.JSONDecoder()
# Yandex documents a prompt over the context as 400 INVALID_ARGUMENT ("exceeded prompt length",
# troubleshooting/error-codes.md) and warns that messages may change: recognise the idea, not a wording.
_PROMPT_WORDS = re.compile(r"prompt|context|input|token|промпт|контекст|запрос|токен")
_LENGTH_WORDS = re.compile(
    r"length|too long|too large|too many|exceed|maximum|limit|длин|превыш|слишком|лимит"
)


def about_prompt_length(message: str | None, code: str | None = None, param: str | None = None) -> bool:
    """Whether an error says the prompt (context, input, tokens) is too long for the model."""
    text = f"{code or ''} {message or ''}".lower()
    if param == "max_output_tokens" or "max_output_tokens" in text:
        return False  # about the answer's length, not the prompt's
    return bool(_PROMPT_WORDS.search(text) and _LENGTH_WORDS.search(text))


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
        model_uri: Callable[[str | None], str],
        *,
        web_search: WebSearchOptions = WebSearchOptions(),
        max_search_results: int = 5,
        metrics: Metrics | None = None,
    ) -> None:
        """`model_uri`: the URI of a model name (None: the configured model)."""
        self._client = client
        self._metrics = metrics
        self._model_uri = model_uri
        self._web_search = web_search
        self._max_search_results = max_search_results

    async def start(self, request: AnswerRequest) -> ResponsesAnswerStream:
        body: dict[str, Any] = {
            "model": self._model_uri(request.model),
            "input": _input_items(request),
            "instructions": request.instructions,
            "stream": True,
        }
        if request.context_handle:
            body["previous_response_id"] = request.context_handle
        tools: list[dict[str, Any]] = []
        if request.search_index:
            tools.append(
                {
                    "type": "file_search",
                    "vector_store_ids": [request.search_index],
                    "max_num_results": self._max_search_results,
                }
            )
            body["include"] = ["file_search_call.results"]
        if request.web_search:
            tools.append(self._web_search.tool())
        if tools:
            body["tools"] = tools
        raw = await self._send(body, had_context=request.context_handle is not None)
        return ResponsesAnswerStream(raw, self._count)

    async def complete(self, request: CompletionRequest) -> CompletedAnswer:
        body: dict[str, Any] = {
            "model": self._model_uri(request.model),
            "input": request.text,
            "instructions": request.instructions,
            "max_output_tokens": request.max_output_tokens,
        }
        raw = await self._send(body, had_context=False)
        try:
            data = json.loads(await raw.read())
        except Exception as error:  # a broken connection, a body that is not JSON
            self._count("stream")
            raise StreamBrokenError(f"unreadable response: {type(error).__name__}") from error
        finally:
            await raw.close()
        if not isinstance(data, dict):
            raise StreamBrokenError("the response is not a JSON object")
        status = data.get("status")
        if status == "failed":
            raise _failure(data.get("error"), self._count)
        return final_answer(data, _ending(data) if status == "incomplete" else Ending.COMPLETED)

    async def _send(self, body: dict[str, Any], *, had_context: bool) -> AsyncAPIResponse[Any]:
        """POST /responses; the response with its body still unread (HTTP errors translated)."""
        try:
            response: AsyncAPIResponse[Any] = await self._client.responses.with_streaming_response.create(
                **body
            ).__aenter__()
            return response
        except openai.APIStatusError as error:
            translated = _translate_status_error(error, had_context=had_context)
            self._count(
                "prompt_too_long"
                if isinstance(translated, PromptTooLongError)
                else f"http_{error.status_code}"
            )
            raise translated from error
        except (openai.APIConnectionError, openai.APITimeoutError) as error:
            self._count("timeout" if _timed_out(error) else "connection")
            raise ProviderError(f"provider unreachable: {type(error).__name__}", retryable=True) from error

    def _count(self, kind: str) -> None:
        if self._metrics is not None:
            self._metrics.provider_errors.labels(kind=kind).inc()


class ResponsesAnswerStream:
    def __init__(self, raw: AsyncAPIResponse[Any], count_error: Callable[[str], None]) -> None:
        self._raw = raw
        self._count_error = count_error
        self._response_id: str | None = None
        self._result: CompletedAnswer | None = None
        self._streamed: list[str] = []

    @property
    def result(self) -> CompletedAnswer | None:
        return self._result

    async def deltas(self) -> AsyncIterator[str]:
        try:
            async for raw_kind, data in server_sent_events(body_chunks(self._raw.http_response)):
                if raw_kind is not None and raw_kind not in _DECODED_EVENT_BYTES:
                    continue
                event = _decode(data)
                kind = raw_kind.decode() if raw_kind is not None else str(event.get("type", ""))
                if kind in _TEXT_EVENTS:
                    delta = str(event.get("delta") or "")
                    self._streamed.append(delta)
                    yield delta
                elif kind == "response.created":
                    self._response_id = str(_object(event.get("response")).get("id") or "") or None
                elif kind == "response.completed":
                    self._result = self._final(_object(event.get("response")), Ending.COMPLETED)
                elif kind == "response.incomplete":
                    response = _object(event.get("response"))
                    self._result = self._final(response, _ending(response))
                elif kind == "response.failed":
                    raise _failure(_object(event.get("response")).get("error"), self._count_error)
                elif kind == "error" or event.get("error"):
                    # An `error` event, or a payload with a top-level error object.
                    raise _failure(event.get("error") or event, self._count_error)
        except ProviderError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._count_error("stream")
            raise StreamBrokenError(f"answer stream broke: {type(error).__name__}") from error

    def _final(self, response: Mapping[str, Any], ending: Ending) -> CompletedAnswer:
        answer = final_answer(response, ending)
        if not answer.text and self._streamed:
            # The text came as deltas but not in the final response: keep what was streamed.
            return CompletedAnswer(
                text="".join(self._streamed),
                context_handle=answer.context_handle,
                sources=answer.sources,
                usage=answer.usage,
                ending=answer.ending,
                web_sources=answer.web_sources,
                retrieved_chars=answer.retrieved_chars,
            )
        return answer

    async def close(self) -> None:
        await self._raw.close()


def body_chunks(response: httpx2.Response) -> AsyncIterator[bytes]:
    """The body of a streamed response, chunk by chunk as it arrives.

    On openai's aiohttp transport (answer streams without a proxy, see `bot.yandex.client`) the chunks
    are read from aiohttp's own stream: httpx's `aiter_bytes` hands each of them down four more layers of
    async iterators (its decoder and chunker, its stream binding, the transport's `iter_chunked`), which
    cost as much CPU as splitting and decoding the events (bench profile of the answer stream). That
    stream is only reachable through the transport's attributes, so anything unexpected — another
    transport, a compressed body that httpx would decode — takes httpx's path as before."""
    transport_stream = getattr(response.stream, "_stream", None)
    raw = getattr(transport_stream, "_aiohttp_response", None)
    if (
        isinstance(raw, aiohttp.ClientResponse)
        and response.headers.get("content-encoding", "identity") == "identity"
    ):
        return _aiohttp_chunks(raw)
    return response.aiter_bytes()


async def _aiohttp_chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The body's chunks, with the client's read timeout kept by one timer per stream.

    aiohttp keeps a read timeout by cancelling its timer and scheduling a new one for every chunk that
    arrives (`ResponseHandler._reschedule_timeout`): a hundred timers per answer, each left in the event
    loop's heap until its time comes or the heap is swept (3.7% of the bot's CPU in a sampled profile of
    sustained-5). Here the protocol's timeout is switched off for the rest of this body and kept
    instead by a timer that is only moved when it fires: then, if no chunk came for the whole timeout,
    the stream fails exactly as aiohttp fails it (`SocketTimeoutError`, the connection not reused)."""
    connection = response.connection
    protocol = connection.protocol if connection is not None else None
    timeout = protocol.read_timeout if protocol is not None else None
    if protocol is None or not timeout:
        async for chunk in response.content.iter_any():
            yield chunk
        return
    # aiohttp's timer for the current wait stays armed; the next chunk cancels it and arms none.
    protocol.read_timeout = None
    content = response.content
    loop = asyncio.get_running_loop()
    active_at, seen_bytes = loop.time(), content.total_bytes
    timer: asyncio.TimerHandle | None = None

    def check() -> None:
        nonlocal timer, active_at, seen_bytes
        if content.total_bytes != seen_bytes:  # bytes came (maybe not read yet): the socket is alive
            active_at, seen_bytes = loop.time(), content.total_bytes
        if loop.time() < active_at + timeout:
            timer = loop.call_at(active_at + timeout, check)
            return
        error = SocketTimeoutError("Timeout on reading data from socket")
        protocol.set_exception(error)
        content.set_exception(error)

    timer = loop.call_at(active_at + timeout, check)
    try:
        async for chunk in content.iter_any():
            active_at, seen_bytes = loop.time(), content.total_bytes
            yield chunk
    finally:
        if timer is not None:
            timer.cancel()


async def server_sent_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[bytes | None, bytes]]:
    """(the `event:` line's value or None, the data) per server-sent event of a body read in chunks.

    As the SSE format defines them: lines end with CRLF, LF or CR (a CR at the end of a chunk waits
    for the next one, which may start with its LF); a blank line ends an event, one without `data`
    is ignored; several `data:` lines join with LF; one space after the colon is dropped; comments
    (`:`) and other fields are ignored. A last event without its blank line still counts.
    """
    kind: bytes | None = None
    data: list[bytes] = []
    pending = b""
    async for chunk in chunks:
        if not chunk:
            continue
        lines = (pending + chunk).splitlines(keepends=True)
        pending = b"" if lines[-1].endswith(b"\n") else lines.pop()
        for line in lines:
            line = line.rstrip(b"\r\n")
            if not line:
                if data:
                    yield kind, b"\n".join(data)
                kind, data = None, []
            elif line.startswith(b"data"):
                value = _field_value(line, b"data")
                if value is not None:
                    data.append(value)
            elif line.startswith(b"event"):
                value = _field_value(line, b"event")
                if value is not None:
                    kind = value
    if pending:
        line = pending.rstrip(b"\r\n")
        if line.startswith(b"data") and (value := _field_value(line, b"data")) is not None:
            data.append(value)
    if data:
        yield kind, b"\n".join(data)


def _field_value(line: bytes, name: bytes) -> bytes | None:
    """The value of field `name` on this line (None when the line is another field, e.g. `database:`)."""
    rest = line[len(name) :]
    if not rest:
        return b""
    if rest[:1] != b":":
        return None
    return rest[2:] if rest[1:2] == b" " else rest[1:]


def _decode(data: bytes) -> dict[str, Any]:
    # An event stream is UTF-8 (the SSE format says so): decoded once here, the JSON decoder gets the
    # text without `json.loads`'s encoding detection and wrappers (about a hundred events per answer).
    event = _JSON.decode(data.decode())
    if not isinstance(event, dict):
        raise ValueError("an event that is not a JSON object")
    return event


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _ending(response: Mapping[str, Any]) -> Ending:
    reason = _object(response.get("incomplete_details")).get("reason")
    return Ending.DECLINED if reason == "content_filter" else Ending.CUT_BY_LENGTH


def _timed_out(error: openai.APIConnectionError) -> bool:
    """Whether a request failed by waiting too long rather than by a broken connection.

    Answer streams go through openai's aiohttp transport, whose exception map turns every
    `aiohttp.ClientConnectionError` (a refused or reset connection included) into
    `httpx.ConnectTimeout`, so openai reports an `APITimeoutError` for both. The cause chain still
    says which it was: a real timeout has a `TimeoutError` in it, a broken connection has not."""
    if not isinstance(error, openai.APITimeoutError):
        return False
    cause: BaseException | None = error.__cause__
    saw_aiohttp = False
    while cause is not None:
        if isinstance(cause, TimeoutError):
            return True
        saw_aiohttp = saw_aiohttp or isinstance(cause, aiohttp.ClientConnectionError)
        cause = cause.__cause__
    return not saw_aiohttp


def _failure(error: object, count: Callable[[str], None]) -> ProviderError:
    details = _object(error)
    message, code = str(details.get("message") or ""), str(details.get("code") or "")
    if about_prompt_length(message, code, details.get("param")):
        count("prompt_too_long")
        return PromptTooLongError("provider refused the prompt's length")
    count("stream")
    return StreamBrokenError(f"provider ended the answer: failed ({code or 'no code'})")


def final_answer(response: Mapping[str, Any], ending: Ending) -> CompletedAnswer:
    """The answer in a final response object: text (or the refusal), citations, usage."""
    texts: list[str] = []
    refusals: list[str] = []
    sources: dict[str, None] = {}
    links: dict[str, WebSource] = {}
    retrieved = 0
    for item in response.get("output") or ():
        if not isinstance(item, dict):
            continue
        if item.get("type") == "file_search_call":
            retrieved += sum(len(str(_object(hit).get("text") or "")) for hit in item.get("results") or ())
        if item.get("type") != "message":
            continue
        for part in item.get("content") or ():
            if not isinstance(part, dict):
                continue
            if part.get("type") == "refusal":
                refusals.append(str(part.get("refusal") or ""))
            elif part.get("type") == "output_text":
                texts.append(str(part.get("text") or ""))
                for annotation in part.get("annotations") or ():
                    _cite(_object(annotation), sources, links)
    return CompletedAnswer(
        text="".join(texts) or "".join(refusals),
        context_handle=str(response.get("id") or "") or None,
        sources=tuple(sources),
        usage=_usage(response.get("usage")),
        ending=ending,
        web_sources=tuple(links.values()),
        retrieved_chars=retrieved,
    )


def _cite(annotation: Mapping[str, Any], sources: dict[str, None], links: dict[str, WebSource]) -> None:
    if annotation.get("type") == "file_citation" and annotation.get("filename"):
        sources.setdefault(str(annotation["filename"]), None)
    elif annotation.get("type") == "url_citation" and annotation.get("url"):
        url = str(annotation["url"])
        links.setdefault(url, WebSource(url, str(annotation.get("title") or "") or None))


def _usage(raw: object) -> Usage | None:
    """Reported usage; None when missing or all zero (Yandex's examples show both)."""
    usage = _object(raw)
    try:
        input_tokens, output_tokens = (
            int(usage.get("input_tokens") or 0),
            int(usage.get("output_tokens") or 0),
        )
    except (TypeError, ValueError):
        return None
    if input_tokens <= 0 and output_tokens <= 0:
        return None
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens)


def _input_items(request: AnswerRequest) -> str | list[dict[str, str]]:
    summary = request.summary if request.context_handle is None else None
    if not request.replay and not summary:
        return request.text
    items = [{"role": "developer", "content": summary}] if summary else []
    items += [
        {"role": turn.role, "content": _replayed_text(turn.text, turn.author)} for turn in request.replay
    ]
    items.append({"role": "user", "content": request.text})
    return items


def _replayed_text(text: str, author: str | None) -> str:
    return labelled(text, author)


def _translate_status_error(error: openai.APIStatusError, *, had_context: bool) -> ProviderError:
    status = error.status_code
    body = _object(error.body)
    details = _object(body.get("error")) or body
    if status == 404 and _about_search_index(error):
        return SearchIndexGoneError("provider lost the document index")
    if status == 400 and about_prompt_length(
        str(details.get("message") or error.message), str(details.get("code") or ""), error.param
    ):
        return PromptTooLongError("provider refused the prompt's length (400)")
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
