"""One response from request to text: validation, context, file search, answer, and paced deltas.

``parse_response_request`` checks a ``POST /v1/responses`` body the way Yandex does (model URI, folder
and served model, one vector store per ``file_search``, the ``web_search`` tool's documented fields).
``plan_answer`` resolves the model's context (a ``previous_response_id`` chain or a conversation, plus
the request's own items), runs the searches and composes the deterministic answer. ``generate`` then releases that text delta by delta on schedule,
for the SSE writer or for a plain JSON reply alike.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from .answers import Directives, compose_answer, estimate_tokens, parse_directives, strip_directives
from .config import EmulatorConfig, UsageMode
from .errors import bad_request
from .items import count_user_messages, item_text, latest_user_text, new_id, normalize_input
from .search import Quote, quote_best_sentences
from .state import EmulatorState, StoredResponse, VectorStore
from .streaming import paced, split_into_deltas, stopped_before
from .websearch import WebSearchTool, parse_web_search_tool, search_web

_MODEL_URI = re.compile(r"^gpt://(?P<folder>[^/]+)/(?P<name>.+)$")
DEFAULT_MAX_NUM_RESULTS = 10
_ECHOED_PARAMS = (
    "temperature",
    "top_p",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "user",
    "include",
)


@dataclass(frozen=True)
class ResponseRequest:
    model: str
    input_items: list[dict[str, Any]]
    instructions: str | None
    previous_response_id: str | None
    conversation_id: str | None
    tools: list[dict[str, Any]]
    file_search: dict[str, Any] | None
    web_search: WebSearchTool | None
    stream: bool
    store: bool
    background: bool
    echoed_params: dict[str, Any]

    @property
    def vector_store_id(self) -> str | None:
        return str(self.file_search["vector_store_ids"][0]) if self.file_search else None


def parse_response_request(
    body: dict[str, Any], project: str | None, served: tuple[str, ...] | None = None
) -> ResponseRequest:
    """A validated ``POST /v1/responses`` body; ``ApiError`` 400 for what Yandex would reject.
    Without an ``OpenAI-Project`` header any folder is accepted (service-account keys imply one);
    with ``served`` model names, only those."""
    model = checked_model(body.get("model"), project, served)
    if "input" not in body:
        raise bad_request("Missing required parameter: 'input'.", param="input")
    conversation = body.get("conversation")
    conversation_id = conversation.get("id") if isinstance(conversation, dict) else conversation
    previous_response_id = body.get("previous_response_id")
    if conversation_id and previous_response_id:
        raise bad_request(
            "'previous_response_id' cannot be used together with 'conversation'.",
            param="previous_response_id",
        )
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(tool, dict) for tool in tools):
        raise bad_request("'tools' must be a list of objects.", param="tools")
    instructions = body.get("instructions")
    background = body.get("background") is True
    stream = bool(body.get("stream"))
    if background and stream:
        raise bad_request(
            "The emulator does not stream background responses; create it without 'stream'.",
            param="background",
        )
    return ResponseRequest(
        model=model,
        input_items=normalize_input(body["input"]),
        instructions=instructions if isinstance(instructions, str) else None,
        previous_response_id=previous_response_id,
        conversation_id=conversation_id,
        tools=tools,
        file_search=_file_search_tool(tools),
        web_search=parse_web_search_tool(tools),
        stream=stream,
        store=body.get("store") is not False,
        background=background,
        echoed_params={key: body[key] for key in _ECHOED_PARAMS if key in body},
    )


def checked_model(model: Any, project: str | None, served: tuple[str, ...] | None = None) -> str:
    """The request's ``model`` when it is a ``gpt://<folder>/<name>`` URI in the request's folder
    (any folder without an ``OpenAI-Project`` header) naming a served model (any, when ``served`` is
    None); ``ApiError`` 400 otherwise, as Yandex answers an incorrect model URI (INVALID_ARGUMENT,
    ``troubleshooting/error-codes.md``)."""
    match = _MODEL_URI.match(model) if isinstance(model, str) else None
    if not isinstance(model, str) or match is None:
        raise bad_request(
            f"Invalid model URI {model!r}: expected gpt://<folder_id>/<model_name>.",
            param="model",
            code="invalid_model",
        )
    if project is not None and match["folder"] != project:
        raise bad_request(
            f"Specified folder ID '{match['folder']}' does not match the folder of the request ('{project}').",
            param="model",
            code="invalid_argument",
        )
    if served is not None and match["name"] not in served:
        raise bad_request(
            f"Invalid model_uri {model!r}: model {match['name']!r} is not available.",
            param="model",
            code="invalid_argument",
        )
    return model


def model_name(model: str) -> str:
    """``gpt://<folder>/<name>`` → ``<name>``."""
    match = _MODEL_URI.match(model)
    return match["name"] if match else model


def _file_search_tool(tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    searches = [tool for tool in tools if tool.get("type") == "file_search"]
    if not searches:
        return None
    store_ids = [store_id for tool in searches for store_id in tool.get("vector_store_ids") or []]
    if len(store_ids) != 1:
        raise bad_request(
            "You can connect only one search index to a model at a time: "
            f"file_search got {len(store_ids)} vector store ids.",
            param="tools",
        )
    return searches[0]


@dataclass(frozen=True)
class AnswerPlan:
    """Everything decided before the first delta."""

    text: str
    directives: Directives
    search_call: dict[str, Any] | None
    annotations: list[dict[str, Any]]
    input_tokens: int
    web_call: dict[str, Any] | None = None


def plan_answer(state: EmulatorState, request: ResponseRequest) -> AnswerPlan:
    """Resolve context and search, compose the answer. ``ApiError`` 404 for an unknown or expired
    previous response, conversation or vector store."""
    context = _context_items(state, request)
    latest = latest_user_text(request.input_items)
    directives = parse_directives(latest)
    question = strip_directives(latest)
    store = (
        state.get_vector_store(request.vector_store_id, param="tools") if request.vector_store_id else None
    )
    search_call: dict[str, Any] | None = None
    quotes_text = ""
    annotations: list[dict[str, Any]] = []
    quotes: list[Quote] = []
    if store is not None and request.file_search is not None:
        search_call, quotes = _search(store, question, request.file_search)
        quotes_text = "\n".join(result["text"] for result in search_call["results"])
        cited = dict.fromkeys((quote.file_id, quote.filename) for quote in quotes)
        annotations = [
            {"type": "file_citation", "file_id": file_id, "filename": filename, "index": 0}
            for file_id, filename in cited
        ]
    web = search_web(question, request.web_search, directives.web_pages) if request.web_search else None
    if web is not None:
        annotations += web.citations
    text = compose_answer(
        question,
        directives,
        history_count=count_user_messages([*context, *request.input_items]),
        searched_documents=store is not None,
        quotes=quotes,
        web_pages=len(web.urls) if web is not None else None,
        model_name=model_name(request.model) if state.config.models is not None else None,
    )
    prompt = "\n".join(
        [
            request.instructions or "",
            *(item_text(item) for item in [*context, *request.input_items]),
            quotes_text,
        ]
    )
    return AnswerPlan(
        text, directives, search_call, annotations, estimate_tokens(prompt), web.call if web else None
    )


def _context_items(state: EmulatorState, request: ResponseRequest) -> list[dict[str, Any]]:
    if request.previous_response_id:
        state.get_response(
            request.previous_response_id, param="previous_response_id", code="previous_response_not_found"
        )
        return state.chain_items(request.previous_response_id)
    if request.conversation_id:
        return list(state.get_conversation(request.conversation_id, param="conversation").items)
    return []


def _search(store: VectorStore, question: str, tool: dict[str, Any]) -> tuple[dict[str, Any], list[Quote]]:
    store.touch()
    index, documents = store.index(tool.get("filters"))
    hits = index.search(question, int(tool.get("max_num_results") or DEFAULT_MAX_NUM_RESULTS))
    call = {
        "id": new_id(),
        "type": "file_search_call",
        "status": "completed",
        "queries": [question],
        "results": [
            {
                "file_id": hit.chunk.file_id,
                "filename": hit.chunk.filename,
                "score": hit.score,
                "text": hit.chunk.text,
                "attributes": dict(hit.chunk.attributes),
            }
            for hit in hits
        ],
    }
    return call, quote_best_sentences(question, hits, documents, index)


class Outcome(enum.Enum):
    COMPLETED = "completed"
    STOPPED = "stopped"
    """``stop_requested`` was set: a cancel, the client going away, a reset, or a shutdown."""
    FAILED_MIDWAY = "failed_midway"
    """``emu:fail_mid``: about half of the deltas went out."""
    FAILED = "failed"
    """``emu:failed``: the response failed before any text."""
    CUT_BY_LENGTH = "cut_by_length"
    """``emu:incomplete``: about half of the deltas, then the output limit (``max_output_tokens``)."""
    FILTERED = "filtered"
    """``emu:filtered``: the content filter stopped the answer before any text."""


async def generate(
    response: StoredResponse,
    plan: AnswerPlan,
    config: EmulatorConfig,
    emit: Callable[[str], Awaitable[None]],
) -> Outcome:
    """Release the planned text delta by delta: append each to ``response`` and pass it to ``emit``."""
    directives = plan.directives
    if directives.failed or directives.filtered:
        # Nothing is said: the outcome comes when the first delta would have.
        if await stopped_before(response.created_at + config.first_delta_delay, response.stop_requested):
            return Outcome.STOPPED
        return Outcome.FAILED if directives.failed else Outcome.FILTERED
    pieces = split_into_deltas(plan.text)
    half = max(1, len(pieces) // 2)
    fail_after = half if directives.fail_mid else None
    cut_after = half if directives.incomplete else None
    sent = 0
    schedule = paced(
        pieces,
        first_at=response.created_at + config.first_delta_delay,
        chars_per_second=config.chars_per_second,
        pause_ms=plan.directives.slow_ms,
        stop=response.stop_requested,
    )
    async with aclosing(schedule):
        async for piece in schedule:
            response.append_delta(piece)
            await emit(piece)
            sent += 1
            if fail_after is not None and sent >= fail_after:
                return Outcome.FAILED_MIDWAY
            if cut_after is not None and sent >= cut_after:
                return Outcome.CUT_BY_LENGTH
    return Outcome.COMPLETED if sent == len(pieces) else Outcome.STOPPED


def record_usage(response: StoredResponse, plan: AnswerPlan, mode: UsageMode) -> None:
    """``usage`` as the emulator is configured to report it: the estimate, all zeros, or ``null``."""
    if mode == "null":
        response.usage = None
        return
    output_tokens = estimate_tokens(response.output_text) if mode == "real" else 0
    input_tokens = plan.input_tokens if mode == "real" else 0
    response.usage = {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }
