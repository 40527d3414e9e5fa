"""``POST /v1/chat/completions``: the OpenAI Chat Completions API over the same deterministic answers.

Yandex AI Studio serves Chat Completions next to Responses; many Telegram bots speak only this API, so
benchmarks can run them against the same emulator and the same model stream. The answer is the one
``/v1/responses`` gives for the same latest user text and the same number of user messages in the
context (here: the ``messages`` list); every ``emu:`` directive applies, pacing included.

* Not streaming: a ``chat.completion`` once the whole answer is "generated" (same pacing as a stream).
* Streaming: ``data:`` lines of ``chat.completion.chunk`` — the role first, one chunk per text delta,
  then ``finish_reason: "stop"``, then (with ``stream_options.include_usage``) a usage chunk with no
  choices, then ``data: [DONE]``. ``emu:fail_mid`` sends ``data: {"error": {...}}`` after about half of
  the deltas and ends the stream (no ``[DONE]``), as OpenAI does for a mid-stream failure.

Chat completions are stateless: nothing is stored or chainable, but every one is logged for
``GET /__emu/responses`` (``api: "chat.completions"``), with its timing and per-delta timestamps.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .answers import compose_answer, estimate_tokens, parse_directives, strip_directives
from .errors import ApiError, bad_request, injected_failure
from .generation import AnswerPlan, Outcome, checked_model, generate, model_name, record_usage
from .items import count_user_messages, item_text, latest_user_text, new_id, normalize_input
from .state import EmulatorState, StoredResponse, now
from .vision import TOKENS_PER_IMAGE, Image, checked_images, describe
from .wire import json_response, read_json, state_of

routes = web.RouteTableDef()

API_NAME = "chat.completions"
FAIL_MID_MESSAGE = "The model failed while generating the answer (emu:fail_mid)."
STOPPED_MESSAGE = "The emulator stopped generating this answer (shutdown or reset)."


@routes.post("/v1/chat/completions")
async def create_chat_completion(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    body = await read_json(request)
    model = checked_model(body.get("model"), request.headers.get("OpenAI-Project"), state.config.models)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("Missing required parameter: 'messages'.", param="messages")
    if body.get("n", 1) != 1:
        raise bad_request("Only n=1 is supported.", param="n")
    items = normalize_input(messages, param="messages")
    completion = StoredResponse(
        id=new_id(),
        created_at=now(),
        model=model,
        instructions=None,
        input_items=items,
        input_text=latest_user_text(items),
        tools=[],
        previous_response_id=None,
        conversation_id=None,
        store=False,
        echoed_params={},
        api=API_NAME,
    )
    try:
        images = checked_images(items, model, state.config.vision_models)
    except ApiError as refusal:
        # Refused images are listed in introspection too, as failed requests.
        completion.finish("failed", error={"code": refusal.code, "message": refusal.message})
        state.log_rejected_response(completion)
        raise
    completion.images = [image.record() for image in images]
    plan = _plan(items, images, model_name(model) if state.config.models is not None else None)
    if plan.directives.fail_status is not None:
        error = injected_failure(plan.directives.fail_status, "emu:fail")
        completion.finish("failed", error={"code": error.code, "message": error.message})
        state.log_rejected_response(completion)
        raise error
    state.register_response(completion)
    if body.get("stream"):
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        return await _stream(request, state, completion, plan, include_usage=include_usage)
    return await _reply_when_done(state, completion, plan)


def _plan(items: list[dict[str, Any]], images: list[Image], named_model: str | None) -> AnswerPlan:
    latest = latest_user_text(items)
    directives = parse_directives(latest)
    text = compose_answer(
        strip_directives(latest),
        directives,
        history_count=count_user_messages(items),
        searched_documents=False,
        quotes=[],
        model_name=named_model,
    )
    if images:
        text = f"{describe(images)}\n\n{text}"
    prompt = "\n".join(item_text(item) for item in items)
    return AnswerPlan(text, directives, None, [], estimate_tokens(prompt) + TOKENS_PER_IMAGE * len(images))


async def _reply_when_done(
    state: EmulatorState, completion: StoredResponse, plan: AnswerPlan
) -> web.Response:
    async def discard(_: str) -> None:
        return None

    outcome = await generate(completion, plan, state.config, discard)
    _settle(state, completion, plan, outcome)
    if outcome in (Outcome.FAILED_MIDWAY, Outcome.FAILED):
        raise ApiError(500, FAIL_MID_MESSAGE)
    if completion.status != "completed":
        raise ApiError(503, STOPPED_MESSAGE)
    return json_response(
        {
            "id": completion.id,
            "object": "chat.completion",
            "created": int(completion.created_at),
            "model": completion.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": completion.output_text, "refusal": None},
                    "finish_reason": _FINISH_REASONS.get(outcome, "stop"),
                    "logprobs": None,
                }
            ],
            "usage": _usage(completion),
            "system_fingerprint": None,
        }
    )


async def _stream(
    request: web.Request,
    state: EmulatorState,
    completion: StoredResponse,
    plan: AnswerPlan,
    *,
    include_usage: bool,
) -> web.StreamResponse:
    stream = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
    await stream.prepare(request)

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": completion.id,
            "object": "chat.completion.chunk",
            "created": int(completion.created_at),
            "model": completion.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
            "system_fingerprint": None,
        }
        if include_usage:
            payload["usage"] = None
        return payload

    async def send(payload: dict[str, Any]) -> None:
        await stream.write(encode_data(payload))

    try:
        await send(chunk({"role": "assistant", "content": ""}))
        outcome = await generate(
            completion, plan, state.config, lambda piece: send(chunk({"content": piece}))
        )
        _settle(state, completion, plan, outcome)
        if completion.status == "completed":
            await send(chunk({}, _FINISH_REASONS.get(outcome, "stop")))
            if include_usage:
                await send({**chunk({}), "choices": [], "usage": _usage(completion)})
            await stream.write(b"data: [DONE]\n\n")
        elif outcome in (Outcome.FAILED_MIDWAY, Outcome.FAILED):
            error = ApiError(500, FAIL_MID_MESSAGE)
            await send(error.body())
        await stream.write_eof()
    except ConnectionResetError:
        pass  # the client went away; ``finally`` records it
    finally:
        if completion.status == "in_progress":
            record_usage(completion, plan, "real")
            completion.finish("incomplete")
    return stream


def encode_data(payload: dict[str, Any]) -> bytes:
    """One server-sent event without an ``event:`` line, as Chat Completions streams are framed."""
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


# Chat Completions report the Responses endings emu:incomplete and emu:filtered as finish reasons.
_FINISH_REASONS = {Outcome.CUT_BY_LENGTH: "length", Outcome.FILTERED: "content_filter"}


def _settle(state: EmulatorState, completion: StoredResponse, plan: AnswerPlan, outcome: Outcome) -> None:
    record_usage(completion, plan, "real")
    if completion.status != "in_progress":
        return
    if outcome in (Outcome.COMPLETED, Outcome.CUT_BY_LENGTH, Outcome.FILTERED):
        state.complete_response(completion)
    elif outcome in (Outcome.FAILED_MIDWAY, Outcome.FAILED):
        completion.finish("failed", error={"code": "server_error", "message": FAIL_MID_MESSAGE})
    else:
        completion.finish("incomplete")


def _usage(completion: StoredResponse) -> dict[str, int]:
    usage = completion.usage or {}
    prompt = int(usage.get("input_tokens", 0))
    output = int(usage.get("output_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output}
