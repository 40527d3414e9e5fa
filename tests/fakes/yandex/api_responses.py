"""``/v1/responses``: create (streaming or not), retrieve, delete, cancel, input items.

How a response ends, as seen in its ``status``:

* ``completed`` — all text delivered (``response.completed`` sent when streaming);
* ``failed`` — ``emu:fail=STATUS`` (the HTTP request itself failed; logged, not retrievable) or
  ``emu:fail_mid`` (an ``error`` event after about half of the deltas; HTTP 500 when not streaming);
* ``cancelled`` — ``POST /v1/responses/{id}/cancel`` while it was generating: the stream just ends,
  with no further events;
* ``incomplete`` — the client went away mid-stream, or the server shut down / was reset meanwhile.

Stored responses, whatever their status, stay retrievable and usable as ``previous_response_id``.
"""

from __future__ import annotations

from aiohttp import web

from .errors import ApiError, injected_failure
from .generation import AnswerPlan, Outcome, generate, parse_response_request, plan_answer, record_usage
from .items import latest_user_text, new_id
from .state import EmulatorState, StoredResponse, now
from .streaming import ResponseEvents, encode_sse
from .wire import json_response, list_page, read_json, state_of

routes = web.RouteTableDef()

FAIL_MID_MESSAGE = "The model failed while generating the answer (emu:fail_mid)."


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
    )
    if plan.directives.fail_status is not None:
        error = injected_failure(plan.directives.fail_status, "emu:fail")
        response.finish("failed", error={"code": error.code, "message": error.message})
        state.log_rejected_response(response)
        raise error
    state.register_response(response)
    response.annotations = plan.annotations
    if params.stream:
        return await _stream(request, state, response, plan)
    return await _reply_when_done(state, response, plan)


async def _reply_when_done(state: EmulatorState, response: StoredResponse, plan: AnswerPlan) -> web.Response:
    async def discard(_: str) -> None:
        return None

    response.search_call = plan.search_call
    response.web_call = plan.web_call
    outcome = await generate(response, plan, state.config, discard)
    _settle(state, response, plan, outcome)
    if outcome is Outcome.FAILED_MIDWAY:
        raise ApiError(500, FAIL_MID_MESSAGE)
    return json_response(response.to_api())


async def _stream(
    request: web.Request, state: EmulatorState, response: StoredResponse, plan: AnswerPlan
) -> web.StreamResponse:
    stream = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
    await stream.prepare(request)
    events = ResponseEvents(response)

    async def send(*batch: dict[str, object]) -> None:
        for event in batch:
            await stream.write(encode_sse(event))

    try:
        await send(*events.opening())
        # After the opening snapshots, whose output is empty.
        response.search_call = plan.search_call
        response.web_call = plan.web_call
        await send(*events.file_search(), *events.web_search(), *events.message_start())
        outcome = await generate(response, plan, state.config, lambda piece: send(events.delta(piece)))
        _settle(state, response, plan, outcome)
        if response.status == "completed":
            await send(*events.message_end())
        elif outcome is Outcome.FAILED_MIDWAY:
            await send(events.error(FAIL_MID_MESSAGE))
        await stream.write_eof()
    except ConnectionResetError:
        pass  # the client went away; ``finally`` records it
    finally:
        if response.status == "in_progress":
            record_usage(response, plan)
            response.finish("incomplete")
    return stream


def _settle(state: EmulatorState, response: StoredResponse, plan: AnswerPlan, outcome: Outcome) -> None:
    """Record how generation ended. A cancel has already marked the response ``cancelled`` and wins;
    a stop without one (server shutdown, ``/__emu/reset``) leaves it ``incomplete``."""
    record_usage(response, plan)
    if response.status != "in_progress":
        return
    if outcome is Outcome.COMPLETED:
        state.complete_response(response)
    elif outcome is Outcome.FAILED_MIDWAY:
        response.finish("failed", error={"code": "server_error", "message": FAIL_MID_MESSAGE})
    else:
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
    """Stop a response that is still generating; for a finished one this returns it unchanged."""
    response = state_of(request).get_response(request.match_info["response_id"])
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
