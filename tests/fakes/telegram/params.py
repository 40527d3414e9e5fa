"""Decoding Bot API request parameters.

Clients send form fields (strings; nested objects as JSON strings), multipart forms with file parts, JSON
bodies (native types) or query strings. `Params` gives typed access over all of them and fails with the
server's wording; `decoded()` is the form stored in the call log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import errors
from .errors import bad_request

JSON_FIELDS = frozenset(
    {
        "reply_markup", "entities", "caption_entities", "reply_parameters", "rich_message", "commands", "scope",
        "allowed_updates", "link_preview_options", "media",
    }
)  # fmt: skip
INT_FIELDS = frozenset(
    {
        "chat_id", "message_id", "draft_id", "message_thread_id", "user_id", "offset", "limit", "timeout",
        "reply_to_message_id", "max_connections", "cache_time",
    }
)  # fmt: skip
BOOL_FIELDS = frozenset(
    {
        "can_stop", "keep_on_stop", "show_alert", "drop_pending_updates", "allow_sending_without_reply",
        "disable_notification", "protect_content", "disable_content_type_detection",
    }
)  # fmt: skip


@dataclass(frozen=True)
class UploadedFile:
    filename: str | None
    content_type: str | None
    content: bytes


class Params:
    """One request's parameters, with the file parts of a multipart body."""

    def __init__(self, values: dict[str, Any], files: dict[str, UploadedFile] | None = None) -> None:
        self._values = values
        self._files = files or {}

    def __contains__(self, name: str) -> bool:
        return self._values.get(name) not in (None, "")

    def raw(self, name: str) -> Any:
        return self._values.get(name)

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self._values.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(errors.PARAMETER_EMPTY.format(name=name))
            return None if value is None else ""
        return value if isinstance(value, str) else str(value)

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self._values.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(errors.PARAMETER_EMPTY.format(name=name))
            return None
        if isinstance(value, bool):
            raise bad_request(errors.PARAMETER_INVALID.format(name=name))
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise bad_request(errors.PARAMETER_INVALID.format(name=name)) from None

    def chat_id(self) -> int | str:
        """An integer id, or an "@username" string (which no chat of the fake has)."""
        value = self._values.get("chat_id")
        if isinstance(value, str) and value.startswith("@"):
            return value
        chat_id = self.integer("chat_id", required=True)
        assert chat_id is not None
        return chat_id

    def boolean(self, name: str) -> bool:
        value = self._values.get(name)
        if isinstance(value, bool):
            return value
        if value is None:
            return False
        return str(value).strip().lower() in ("true", "1")

    def json(self, name: str) -> Any:
        value = self._values.get(name)
        if not isinstance(value, str):
            return value
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(errors.JSON_INVALID.format(name=name)) from None

    def file(self, name: str) -> UploadedFile | str | None:
        """A file parameter: an uploaded part (directly or via "attach://<part>") or a file_id/URL string."""
        if name in self._files:
            return self._files[name]
        value = self.string(name)
        if value is not None and value.startswith("attach://"):
            uploaded = self._files.get(value.removeprefix("attach://"))
            if uploaded is None:
                raise bad_request(errors.WRONG_FILE_IDENTIFIER)
            return uploaded
        return value

    def decoded(self) -> dict[str, Any]:
        """Parameters as native values for the call log; uploaded files become {file_name, size}."""
        decoded: dict[str, Any] = {}
        attached: set[str] = set()
        for name, value in self._values.items():
            part = value.removeprefix("attach://") if isinstance(value, str) else None
            if part is not None and part != value and part in self._files:
                attached.add(part)
                decoded[name] = _describe(self._files[part])
            else:
                decoded[name] = _decode(name, value)
        for name, uploaded in self._files.items():
            if name not in attached:
                decoded[name] = _describe(uploaded)
        return decoded


def _describe(uploaded: UploadedFile) -> dict[str, Any]:
    return {"file_name": uploaded.filename, "size": len(uploaded.content)}


def _decode(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if name in JSON_FIELDS:
            return json.loads(value)
        if name in INT_FIELDS:
            return int(value)
    except ValueError:
        return value
    if name in BOOL_FIELDS:
        return value.lower() in ("true", "1")
    return value
