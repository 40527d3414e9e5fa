"""HTTP plumbing shared by the route modules: the app's state key, JSON bodies, list pages."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web

from .errors import ApiError, bad_request
from .state import EmulatorState

STATE = web.AppKey("state", EmulatorState)

T = TypeVar("T")


def state_of(request: web.Request) -> EmulatorState:
    return request.app[STATE]


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body ({} when empty); 400 when it is not a JSON object."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


def json_response(payload: dict[str, Any] | list[Any], *, status: int = 200) -> web.Response:
    return web.json_response(
        payload, status=status, dumps=lambda value: json.dumps(value, ensure_ascii=False)
    )


def error_response(error: ApiError) -> web.Response:
    response = json_response(error.body(), status=error.status)
    response.headers.update(error.headers)
    return response


def query_int(request: web.Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"'{name}' must be an integer.", param=name) from None
    if not low <= value <= high:
        raise bad_request(f"'{name}' must be between {low} and {high}.", param=name)
    return value


def list_page(
    request: web.Request,
    items: Sequence[T],
    *,
    object_id: Callable[[T], str],
    render: Callable[[T], dict[str, Any]],
    default_limit: int = 20,
) -> web.Response:
    """An OpenAI cursor page of ``items`` (given oldest first) honouring limit, order (default desc),
    after and before."""
    limit = query_int(request, "limit", default_limit, low=1, high=10_000)
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request("'order' must be 'asc' or 'desc'.", param="order")
    ordered = list(items) if order == "asc" else list(reversed(items))
    ids = [object_id(item) for item in ordered]
    start, stop = 0, len(ordered)
    if (after := request.query.get("after")) in ids:
        start = ids.index(after) + 1
    if (before := request.query.get("before")) in ids:
        stop = ids.index(before)
    page = ordered[start:stop][:limit]
    return json_response(
        {
            "object": "list",
            "data": [render(item) for item in page],
            "first_id": object_id(page[0]) if page else None,
            "last_id": object_id(page[-1]) if page else None,
            "has_more": start + len(page) < stop,
        }
    )
