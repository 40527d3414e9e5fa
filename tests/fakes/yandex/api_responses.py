"""``/v1/responses``: create (streaming or not, in the background or not), retrieve, delete, cancel,
input items.

How a response ends, as seen in its ``status``:

* ``completed`` — all text delivered (``response.completed`` sent when streaming);
* ``failed`` — ``emu:fail=STATUS`` or a prompt over ``config.context_tokens`` (the HTTP request itself
  failed; logged with its error, not retrievable), ``emu:failed`` (``response.failed`` before any text;
  HTTP 500 when not streaming) or ``emu:fail_mid`` (an ``error`` event after about half of the deltas;
  HTTP 500 when not streaming);
* ``cancelled`` — ``POST /v1/responses/{id}/cancel`` while a ``background: true`` response was
  generating (Yandex cancels background responses only: any other gets 400);
* ``incomplete`` — ``emu:incomplete`` (reason ``max_output_tokens``, after some text), ``emu:filtered``
  (reason ``content_filter``, no text), or the client went away mid-stream (``client_disconnected_at``
  is recorded, generation stops), or the server shut down / was reset meanwhile.

Stored responses, whatever their status, stay retrievable and usable as ``previous_response_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import NoReturn

from aiohttp import web

from .errors import ApiError, bad_request, injected_failure
from .generation import AnswerPlan, Outcome, generate, parse_response_request, plan_answer, record_usage
from .items import latest_user_text, new_id
from .state import EmulatorState, StoredResponse, now
from .streaming import ResponseEvents, encode_sse
from .wire import json_response, list_page, read_json, state_of

routes = web.RouteTableDef()

FAIL_MID_MESSAGE = "The model failed while generating the answer (emu:fail_mid)."
FAILED_MESSAGE = "The model failed to generate an answer (emu:failed)."
DISCONNECT_POLL_SECONDS = 0.25  # cheap: a write notices at once, this only covers silent spells
_INCOMPLETE_REASONS = {Outcome.CUT_BY_LENGTH: "max_output_tokens", Outcome.FILTERED: "content_filter"}


@routes.post("/v1/responses")
async def create_response(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    params = parse_response_request(
        await read_json(request), request.headers.get("OpenAI-Project"), state.config.models
    )
    plan = plan_answer(state, params)
    response = StoredResponse(
        id=new_id(),
        created_at=now(),
        model=params.model,
        instructions=params.instructions,
        input_items=params.input_items,
        input_text=latest_user_text(params.input_items),
        tools=params.tools,
        previous_response_id=params.previous_response_id,
        conversation_id=params.conversation_id,
        store=params.store,
        echoed_params=params.echoed_params,
        background=params.background,
        refusal=plan.directives.refusal,
    )
    if plan.directives.fail_status is not None:
        _reject(state, response, injected_failure(plan.directives.fail_status, "emu:fail"))
    limit = state.config.context_tokens
    if plan.input_tokens > limit:
        # Yandex: 400 INVALID_ARGUMENT, "exceeded prompt length" (troubleshooting/error-codes.md);
        # the exact body is not documented, so no `code` or `param` a client could lean on.
        _reject(
            state,
            response,
            bad_request(
                f"Request is invalid: exceeded prompt length ({plan.input_tokens} tokens of instructions, "
                f"context, input and search results; the model's context is {limit} tokens)."
            ),
        )
    state.register_response(response)
    response.annotations = plan.annotations
    if params.background:
        state.run_in_background(_generate_in_background(state, response, plan), response.id)
        return json_response(response.to_api())
    if params.stream:
        return await _stream(request, state, response, plan)
    return await _reply_when_done(state, response, plan)


def _reject(state: EmulatorState, response: StoredResponse, error: ApiError) -> NoReturn:
    """The request fails before generating: logged (with its error) for introspection, then raised."""
    response.finish(
        "failed", error={"code": error.code, "message": error.message, "http_status": error.status}
    )
    state.log_rejected_response(response)
    raise error


async def _generate_in_background(state: EmulatorState, response: StoredResponse, plan: AnswerPlan) -> None:
    async def discard(_: str) -> None:
        return None

    response.search_call = plan.search_call
    response.web_call = plan.web_call
    outcome = await generate(response, plan, state.config, discard)
    _settle(state, response, plan, outcome)


async def _reply_when_done(state: EmulatorState, response: StoredResponse, plan: AnswerPlan) -> web.Response:
    async def discard(_: str) -> None:
        return None

    response.search_call = plan.search_call
    response.web_call = plan.web_call
    outcome = await generate(response, plan, state.config, discard)
    _settle(state, response, plan, outcome)
    if outcome is Outcome.FAILED_MIDWAY:
        raise ApiError(500, FAIL_MID_MESSAGE)
    if outcome is Outcome.FAILED:
        raise ApiError(500, FAILED_MESSAGE)
    return json_response(response.to_api())


async def _stream(
    request: web.Request, state: EmulatorState, response: StoredResponse, plan: AnswerPlan
) -> web.StreamResponse:
    stream = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
    await stream.prepare(request)
    events = ResponseEvents(response)
    watcher = asyncio.create_task(_watch_for_disconnect(request, response), name=f"disconnect:{response.id}")

    async def send(*batch: dict[str, object]) -> None:
        for event in batch:
            await stream.write(encode_sse(event))

    try:
        await send(*events.opening())
        # After the opening snapshots, whose output is empty.
        response.search_call = plan.search_call
        response.web_call = plan.web_call
        await send(*events.file_search(), *events.web_search())
        if not (plan.directives.failed or plan.directives.filtered):
            await send(*events.message_start())
        outcome = await generate(response, plan, state.config, lambda piece: send(events.delta(piece)))
        _settle(state, response, plan, outcome)
        if response.status == "completed":
            await send(*events.message_end())
        elif outcome is Outcome.FAILED_MIDWAY:
            await send(events.error(FAIL_MID_MESSAGE))
        elif outcome is Outcome.FAILED:
            await send(events.failed())
        elif outcome is Outcome.CUT_BY_LENGTH:
            await send(*events.message_cut())
        elif outcome is Outcome.FILTERED:
            await send(events.incomplete())
        await stream.write_eof()
    except ConnectionResetError:
        _client_went_away(response)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        if response.status == "in_progress":
            record_usage(response, plan, state.config.usage)
            response.finish("incomplete")
    return stream


async def _watch_for_disconnect(request: web.Request, response: StoredResponse) -> None:
    """Notice a client that closed the stream even while nothing is being written (a slow first
    delta, a long pause): generation stops at once, as it does for a write that fails."""
    while response.status == "in_progress":
        transport = request.transport
        if transport is None or transport.is_closing():
            _client_went_away(response)
            return
        await asyncio.sleep(DISCONNECT_POLL_SECONDS)


def _client_went_away(response: StoredResponse) -> None:
    if response.status == "in_progress" and response.client_disconnected_at is None:
        response.client_disconnected_at = now()
        response.stop_requested.set()


def _settle(state: EmulatorState, response: StoredResponse, plan: AnswerPlan, outcome: Outcome) -> None:
    """Record how generation ended. A cancel has already marked the response ``cancelled`` and wins;
    a stop without one (client gone, server shutdown, ``/__emu/reset``) leaves it ``incomplete``."""
    record_usage(response, plan, state.config.usage)
    if response.status != "in_progress":
        return
    if outcome is Outcome.COMPLETED:
        state.complete_response(response)
    elif outcome is Outcome.FAILED_MIDWAY:
        response.finish("failed", error={"code": "server_error", "message": FAIL_MID_MESSAGE})
    elif outcome is Outcome.FAILED:
        response.finish("failed", error={"code": "server_error", "message": FAILED_MESSAGE})
    else:
        response.incomplete_reason = _INCOMPLETE_REASONS.get(outcome)
        response.finish("incomplete")


@routes.get("/v1/responses/{response_id}")
async def retrieve_response(request: web.Request) -> web.Response:
    return json_response(state_of(request).get_response(request.match_info["response_id"]).to_api())


@routes.delete("/v1/responses/{response_id}")
async def delete_response(request: web.Request) -> web.Response:
    response_id = request.match_info["response_id"]
    state_of(request).delete_response(response_id)
    return json_response({"id": response_id, "object": "response", "deleted": True})


@routes.post("/v1/responses/{response_id}/cancel")
async def cancel_response(request: web.Request) -> web.Response:
    """Stop a background response that is still generating; a finished one is returned unchanged.
    Yandex cancels only responses created with ``background: true`` (cancelResponse.md): 400 otherwise."""
    response = state_of(request).get_response(request.match_info["response_id"])
    if not response.background:
        raise bad_request("Only responses created with 'background: true' can be cancelled.")
    if response.status == "in_progress":
        response.stop_requested.set()
        response.finish("cancelled")
    return json_response(response.to_api())


@routes.get("/v1/responses/{response_id}/input_items")
async def list_input_items(request: web.Request) -> web.Response:
    response = state_of(request).get_response(request.match_info["response_id"])
    return list_page(
        request, response.input_items, object_id=lambda item: str(item["id"]), render=lambda item: item
    )
