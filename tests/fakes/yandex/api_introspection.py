"""``/__emu/*``: endpoints for tests and benchmarks, not part of the real API (no auth needed).

* ``GET /__emu/responses?limit=N`` — the last N responses and chat completions (default 50), newest
  last, each with its timing and per-delta ``[at, total_chars]`` pairs;
* ``GET /__emu/requests?limit=N`` — the last N ``/v1`` requests (default 200), newest last: method, path,
  status and non-secret headers;
* ``GET /__emu/iam_tokens`` — every IAM token issued (service account, issue and expiry times, how);
* ``GET /__emu/vector_stores`` — every store with its file counts and files;
* ``POST /__emu/reset`` — forget every object and pending fault;
* ``POST /__emu/faults`` ``{"count": K, "status": S, "paths": ["/v1/responses", …], "delay": D}`` —
  the next K ``/v1`` requests whose path starts with one of ``paths`` (any path when omitted) are
  held D seconds (default 0), then fail with S (or, without ``status``, are handled as usual);
* ``POST /__emu/expire`` ``{"id": "…"}`` — that conversation, response, vector store or file
  vanishes as if its TTL had passed.
"""

from __future__ import annotations

from aiohttp import web

from .errors import bad_request, not_found
from .wire import json_response, query_int, read_json, state_of

routes = web.RouteTableDef()


@routes.get("/__emu/responses")
async def recent_responses(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 50, low=0, high=1_000_000)
    return json_response(state_of(request).response_records(limit))


@routes.get("/__emu/requests")
async def recent_requests(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 200, low=0, high=1_000_000)
    return json_response(state_of(request).request_records(limit))


@routes.get("/__emu/iam_tokens")
async def iam_tokens(request: web.Request) -> web.Response:
    return json_response([token.to_record() for token in state_of(request).iam.exchanges])


@routes.get("/__emu/vector_stores")
async def vector_stores(request: web.Request) -> web.Response:
    return json_response(state_of(request).vector_store_records())


@routes.post("/__emu/reset")
async def reset(request: web.Request) -> web.Response:
    state_of(request).reset()
    return json_response({"reset": True})


@routes.post("/__emu/faults")
async def inject_faults(request: web.Request) -> web.Response:
    body = await read_json(request)
    count, status, paths = body.get("count"), body.get("status"), body.get("paths")
    delay = body.get("delay", 0)
    if not isinstance(count, int) or count < 0:
        raise bad_request("'count' must be a non-negative integer.", param="count")
    if not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 <= delay <= 600:
        raise bad_request("'delay' must be a number of seconds (0-600).", param="delay")
    if status is None and not delay:
        raise bad_request("'status' or 'delay' is required.", param="status")
    if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
        raise bad_request("'status' must be an HTTP error status (400-599).", param="status")
    if paths is not None and not (isinstance(paths, list) and all(isinstance(path, str) for path in paths)):
        raise bad_request("'paths' must be a list of path prefixes.", param="paths")
    state_of(request).faults.add(count, status, paths, delay=float(delay))
    return json_response({"count": count, "status": status, "paths": paths, "delay": delay})


@routes.post("/__emu/expire")
async def expire(request: web.Request) -> web.Response:
    object_id = (await read_json(request)).get("id")
    if not isinstance(object_id, str):
        raise bad_request("'id' must be a string.", param="id")
    try:
        kind = state_of(request).expire(object_id)
    except KeyError:
        raise not_found("Object", object_id) from None
    return json_response({"id": object_id, "expired": kind})
