"""``/v1/conversations``: conversations and their items.

A conversation has no TTL of its own (Yandex documents none); it disappears when deleted or expired
through ``/__emu/expire``. A completed response made with ``conversation=…`` appends its input and
output items to it.
"""

from __future__ import annotations

from aiohttp import web

from .errors import not_found
from .items import normalize_input
from .wire import json_response, list_page, read_json, state_of

routes = web.RouteTableDef()


@routes.post("/v1/conversations")
async def create_conversation(request: web.Request) -> web.Response:
    body = await read_json(request)
    items = normalize_input(body.get("items") or [], param="items")
    conversation = state_of(request).create_conversation(dict(body.get("metadata") or {}), items)
    return json_response(conversation.to_api())


@routes.get("/v1/conversations/{conversation_id}")
async def retrieve_conversation(request: web.Request) -> web.Response:
    return json_response(state_of(request).get_conversation(request.match_info["conversation_id"]).to_api())


@routes.delete("/v1/conversations/{conversation_id}")
async def delete_conversation(request: web.Request) -> web.Response:
    conversation_id = request.match_info["conversation_id"]
    state_of(request).delete_conversation(conversation_id)
    return json_response({"id": conversation_id, "object": "conversation.deleted", "deleted": True})


@routes.post("/v1/conversations/{conversation_id}/items")
async def create_items(request: web.Request) -> web.Response:
    conversation = state_of(request).get_conversation(request.match_info["conversation_id"])
    body = await read_json(request)
    items = normalize_input(body.get("items") or [], param="items")
    conversation.items.extend(items)
    return json_response(
        {
            "object": "list",
            "data": items,
            "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None,
            "has_more": False,
        }
    )


@routes.get("/v1/conversations/{conversation_id}/items")
async def list_items(request: web.Request) -> web.Response:
    conversation = state_of(request).get_conversation(request.match_info["conversation_id"])
    return list_page(
        request, conversation.items, object_id=lambda item: str(item["id"]), render=lambda item: item
    )


@routes.get("/v1/conversations/{conversation_id}/items/{item_id}")
async def retrieve_item(request: web.Request) -> web.Response:
    conversation = state_of(request).get_conversation(request.match_info["conversation_id"])
    item_id = request.match_info["item_id"]
    for item in conversation.items:
        if item["id"] == item_id:
            return json_response(item)
    raise not_found("Conversation item", item_id)
