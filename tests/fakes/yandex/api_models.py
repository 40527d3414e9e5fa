"""``GET /v1/models``: the served model URIs in the caller's folder (the configured folder, else the
``OpenAI-Project`` header's): ``--models`` when given, else the text models Yandex documents for the
common instance (``en/ai-studio/concepts/generation/models.md``)."""

from __future__ import annotations

from aiohttp import web

from .state import now
from .wire import json_response, state_of

routes = web.RouteTableDef()

# Branch written out (`/latest`), as the community reports the real list (LiteLLM notes, Sept 2026).
MODEL_NAMES = (
    "aliceai-llm/latest",
    "yandexgpt/latest",
    "yandexgpt/rc",
    "yandexgpt-lite/latest",
    "qwen3-235b-a22b-fp8/latest",
    "gpt-oss-120b/latest",
    "gpt-oss-20b/latest",
    "gemma-3-27b-it/latest",
)
DEFAULT_FOLDER = "default-folder"


@routes.get("/v1/models")
async def list_models(request: web.Request) -> web.Response:
    folder = state_of(request).config.folder_id or request.headers.get("OpenAI-Project") or DEFAULT_FOLDER
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
