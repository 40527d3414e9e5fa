"""Conversation items: normalising a request's ``input`` into message items and reading text back.

Responses and conversations share one item shape, the OpenAI one:
``{"id", "type": "message", "role", "status", "content": [{"type": "input_text" | "output_text", "text"}]}``.
Callers may send ``input`` as a string, or as a list of ``{"role", "content"}`` items whose content is
a string or a list of text parts; other item types (tool outputs, …) are stored as given.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from .errors import bad_request

MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})


def new_id() -> str:
    """Object ids are plain UUID4 strings, as Yandex's are."""
    return str(uuid.uuid4())


def message_item(role: str, text: str, *, item_id: str | None = None) -> dict[str, Any]:
    return {
        "id": item_id or new_id(),
        "type": "message",
        "role": role,
        "status": "completed",
        "content": [_text_part(role, text)],
    }


def normalize_input(raw: Any, *, param: str = "input") -> list[dict[str, Any]]:
    """Items with ids from a request's ``input`` (or a conversation's ``items``); 400 when malformed."""
    if isinstance(raw, str):
        return [message_item("user", raw)]
    if not isinstance(raw, list):
        raise bad_request(f"'{param}' must be a string or a list of items.", param=param)
    return [_normalize_item(item, param=param) for item in raw]


def _normalize_item(item: Any, *, param: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise bad_request(f"Every entry of '{param}' must be an object.", param=param)
    if item.get("type", "message") != "message" or "role" not in item:
        return {"id": item.get("id") or new_id(), **item}
    role = item["role"]
    if role not in MESSAGE_ROLES:
        raise bad_request(f"Unsupported role '{role}' in '{param}'.", param=param)
    content = item.get("content")
    if isinstance(content, str):
        parts = [_text_part(role, content)]
    elif isinstance(content, list) and all(isinstance(part, dict) and "type" in part for part in content):
        parts = [dict(part) for part in content]
    else:
        raise bad_request(
            f"The content of a message in '{param}' must be a string or a list of typed parts.", param=param
        )
    return {
        "id": item.get("id") or new_id(),
        "type": "message",
        "role": role,
        "status": item.get("status", "completed"),
        "content": parts,
    }


def _text_part(role: str, text: str) -> dict[str, Any]:
    if role == "assistant":
        return {"type": "output_text", "text": text, "annotations": []}
    return {"type": "input_text", "text": text}


def item_text(item: dict[str, Any]) -> str:
    """The concatenated text parts of a message item ('' for other items)."""
    if item.get("type") != "message":
        return ""
    return "".join(
        str(part.get("text", ""))
        for part in item.get("content", [])
        if part.get("type") in ("input_text", "output_text", "text")
    )


def is_user_message(item: dict[str, Any]) -> bool:
    return item.get("type") == "message" and item.get("role") == "user"


def count_user_messages(items: Iterable[dict[str, Any]]) -> int:
    return sum(1 for item in items if is_user_message(item))


def latest_user_text(items: list[dict[str, Any]]) -> str:
    """Text of the last user message of the list ('' when there is none)."""
    for item in reversed(items):
        if is_user_message(item):
            return item_text(item)
    return ""
