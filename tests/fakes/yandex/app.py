"""The aiohttp application: routes, and the boundary every ``/v1`` request crosses first.

Order at the boundary: an injected fault (``/__emu/faults``) holds and/or fails the request before
anything else, then authentication (``Authorization: Bearer <key>`` or ``Api-Key <key>``), then the route. Any
``ApiError``, unknown route or wrong method becomes an OpenAI-style JSON error.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler

from . import (
    api_chat_completions,
    api_conversations,
    api_files,
    api_introspection,
    api_models,
    api_responses,
    api_vector_stores,
)
from .errors import ApiError, injected_failure
from .items import new_id
from .state import EmulatorState
from .wire import STATE, error_response, state_of

API_PREFIX = "/v1/"
MULTIPART_OVERHEAD_BYTES = 1024 * 1024


def create_app(state: EmulatorState) -> web.Application:
    app = web.Application(
        middlewares=[api_boundary],
        client_max_size=state.config.max_file_bytes + MULTIPART_OVERHEAD_BYTES,
    )
    app[STATE] = state
    for module in (
        api_files,
        api_vector_stores,
        api_conversations,
        api_responses,
        api_chat_completions,
        api_models,
        api_introspection,
    ):
        app.add_routes(module.routes)
    app.on_shutdown.append(_stop_generating)
    return app


async def _stop_generating(app: web.Application) -> None:
    """Let streaming handlers and background generations finish at once, so shutdown does not wait
    for long answers."""
    app[STATE].stop_all_responses()
    await app[STATE].drain()


@web.middleware
async def api_boundary(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if request.path.startswith(API_PREFIX):
            await _apply_faults(request)
            _authenticate(request)
        response = await handler(request)
    except ApiError as error:
        response = error_response(error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(ApiError(exc.status, exc.reason))
    if not response.prepared:
        response.headers.setdefault("x-request-id", new_id())
    return response


async def _apply_faults(request: web.Request) -> None:
    fault = state_of(request).faults.take(request.path)
    if fault is None:
        return
    if fault.delay > 0:
        # Nothing is sent meanwhile: to the client this is a provider that hangs (its read timeout
        # fires first when shorter). A held request without a status is then handled as usual.
        await asyncio.sleep(fault.delay)
        if request.transport is None or request.transport.is_closing():
            # The client gave up: drop the request (its body can no longer be read) quietly.
            raise ApiError(499, "The client closed the request while it was held.")
    if fault.status is not None:
        raise injected_failure(fault.status, "injected fault")


def _authenticate(request: web.Request) -> None:
    state = state_of(request)
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() not in ("bearer", "api-key") or not key:
        raise ApiError(
            401,
            "Missing or malformed Authorization header: expected 'Bearer <key>' or 'Api-Key <key>'.",
            code="invalid_api_key",
        )
    if state.config.api_keys is not None and key not in state.config.api_keys:
        raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
