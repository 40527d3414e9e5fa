"""The aiohttp application: routes, and the boundary every ``/v1`` request crosses first.

Order at the boundary: an injected fault (``/__emu/faults``) holds and/or fails the request before
anything else, then authentication (``Authorization: Bearer <key or IAM token>`` or ``Api-Key <key>``),
then the folder check (``OpenAI-Project`` header; the model URI of a Responses or Chat Completions
request), then the route. Any ``ApiError``, unknown route or wrong method becomes an OpenAI-style JSON
error. Every ``/v1`` request is logged with its non-secret headers (``/__emu/requests``); a Responses or
Chat Completions request refused before it reached its handler is logged as a failed response too.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

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
from .state import EmulatorState, recordable_headers, request_headers
from .wire import STATE, error_response, state_of

API_PREFIX = "/v1/"
MULTIPART_OVERHEAD_BYTES = 1024 * 1024
GENERATION_APIS = {"/v1/responses": "responses", "/v1/chat/completions": "chat.completions"}
_MODEL_FOLDER = re.compile(r"^gpt://(?P<folder>[^/]+)/")
FOLDER_MISMATCH = "Specified folder ID does not match with service account folder ID"


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
    is_api = request.path.startswith(API_PREFIX)
    if is_api:
        request_headers.set(recordable_headers(request.headers))
    reached_handler = False
    try:
        if is_api:
            await _apply_faults(request)
            _authenticate(request)
            await _check_folder(request)
        reached_handler = True
        response = await handler(request)
    except ApiError as error:
        api = GENERATION_APIS.get(request.path) if request.method == "POST" else None
        if api is not None and not reached_handler and error.status != 499:
            state_of(request).log_refused_request(api, error)
        response = error_response(error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(ApiError(exc.status, exc.reason))
    if not response.prepared:
        response.headers.setdefault("x-request-id", new_id())
    if is_api:
        state_of(request).log_request(request.method, request.path, response.status, request_headers.get())
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
    """API keys with either scheme (Yandex documents ``Api-Key`` generally and ``Bearer`` on its
    OpenAI-compatibility page); IAM tokens with ``Bearer`` only, refused once expired."""
    state = state_of(request)
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    scheme, key = scheme.lower(), key.strip()
    if scheme not in ("bearer", "api-key") or not key:
        raise ApiError(
            401,
            "Missing or malformed Authorization header: expected 'Bearer <key>' or 'Api-Key <key>'.",
            code="invalid_api_key",
        )
    issued = state.iam.lookup(key)
    if issued is not None:
        if scheme != "bearer":
            raise ApiError(401, "An IAM token goes with the Bearer scheme.", code="invalid_api_key")
        if not issued.is_live(time.time()):
            raise ApiError(401, "The IAM token has expired.", code="invalid_api_key")
        return
    if state.config.api_keys is not None and key not in state.config.api_keys:
        raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")


async def _check_folder(request: web.Request) -> None:
    """With ``config.folder_id`` set, a request naming another folder (``OpenAI-Project``, or the model
    URI of a generation request) is refused as Yandex refuses it (``troubleshooting/error-codes.md``)."""
    folder = state_of(request).config.folder_id
    if folder is None:
        return
    project = request.headers.get("OpenAI-Project")
    if project is not None and project != folder:
        raise _folder_mismatch(project, folder, param=None)
    if request.method != "POST" or request.path not in GENERATION_APIS:
        return
    try:
        model = json.loads(await request.read() or b"{}").get("model")
    except (ValueError, AttributeError):
        return  # the handler answers malformed bodies
    match = _MODEL_FOLDER.match(model) if isinstance(model, str) else None
    if match is not None and match["folder"] != folder:
        raise _folder_mismatch(match["folder"], folder, param="model")


def _folder_mismatch(given: str, folder: str, *, param: str | None) -> ApiError:
    return ApiError(
        400,
        f"{FOLDER_MISMATCH} ('{given}' given, the service account's folder is '{folder}').",
        param=param,
        code="invalid_argument",
    )
