"""``GET /v1/models``: the served model URIs in the caller's folder (``--models``, or a short fixed list)."""

from __future__ import annotations

from aiohttp import web

from .state import now
from .wire import json_response, state_of

routes = web.RouteTableDef()

MODEL_NAMES = ("yandexgpt/latest", "yandexgpt/rc", "yandexgpt-lite/latest", "aliceai-llm/latest")
DEFAULT_FOLDER = "default-folder"


@routes.get("/v1/models")
async def list_models(request: web.Request) -> web.Response:
    folder = request.headers.get("OpenAI-Project") or DEFAULT_FOLDER
    created = int(now())
    names = state_of(request).config.models or MODEL_NAMES
    return json_response(
        {
            "object": "list",
            "data": [
                {"id": f"gpt://{folder}/{name}", "object": "model", "created": created, "owned_by": "yandex"}
                for name in names
            ],
        }
    )
