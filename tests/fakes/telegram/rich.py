"""Rich messages (Bot API 10.1): validating an `InputRichMessage` and rendering the `RichMessage` answer.

The fake does not render Markdown/HTML the way Telegram clients do. It keeps the source the bot sent (tests
read it back as `rich_markdown`) and answers with a small, valid block list that aiogram parses: one block
per blank-line-separated chunk (``#`` lines → heading, fenced code → pre, anything else → paragraph with the
chunk's plain text). Explicit `blocks` are echoed when they are text blocks; other block types are echoed as
a paragraph naming the type, because their input and output shapes differ.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import MESSAGE_TEXT_EMPTY, MESSAGE_TOO_LONG, RICH_CONTENT_INVALID, bad_request

_TEXT_BLOCK_TYPES = frozenset({"paragraph", "heading", "pre", "footer", "divider", "thinking"})
_FENCE = re.compile(r"^```([\w+-]*)\n(.*?)\n?```$", re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$", re.S)
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class RichContent:
    """A validated rich message: its source (`markdown`, `html` or JSON of `blocks`) and the input as sent."""

    source_kind: str
    source: str
    input: dict[str, Any]

    def key(self) -> str:
        """Canonical form used to decide whether an edit changes anything."""
        return json.dumps(self.input, sort_keys=True, ensure_ascii=False)

    def to_message_field(self) -> dict[str, Any]:
        """The `rich_message` field of a Message (type RichMessage)."""
        if self.source_kind == "blocks":
            blocks = [_echo_block(block) for block in self.input["blocks"]]
        else:
            text = _TAG.sub("", self.source) if self.source_kind == "html" else self.source
            blocks = [_chunk_to_block(chunk) for chunk in re.split(r"\n\s*\n", text.strip()) if chunk.strip()]
        field: dict[str, Any] = {"blocks": blocks or [{"type": "paragraph", "text": ""}]}
        if self.input.get("is_rtl"):
            field["is_rtl"] = True
        return field


def parse_rich_message(raw: Any, *, max_length: int, allow_empty: bool) -> RichContent:
    """Validate an InputRichMessage: exactly one of html/markdown/blocks, not empty, at most `max_length` chars."""
    if not isinstance(raw, dict):
        raise bad_request(RICH_CONTENT_INVALID)
    given = [kind for kind in ("html", "markdown", "blocks") if raw.get(kind) is not None]
    if len(given) != 1:
        raise bad_request(RICH_CONTENT_INVALID)
    kind = given[0]
    if kind == "blocks":
        if not isinstance(raw["blocks"], list):
            raise bad_request(RICH_CONTENT_INVALID)
        source = json.dumps(raw["blocks"], ensure_ascii=False)
        length = sum(len(text) for text in _texts(raw["blocks"]))
    else:
        source = str(raw[kind])
        length = len(source)
    if length == 0 and not allow_empty:
        raise bad_request(MESSAGE_TEXT_EMPTY)
    if length > max_length:
        raise bad_request(MESSAGE_TOO_LONG)
    return RichContent(source_kind=kind, source=source, input=dict(raw))


def _texts(value: Any) -> list[str]:
    """Every string found under a `text` key of a block structure (the characters a reader sees)."""
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    if isinstance(value, dict):
        found: list[str] = []
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                found.append(item)
            elif isinstance(item, dict | list):
                found.extend(_texts(item))
        return found
    return []


def _chunk_to_block(chunk: str) -> dict[str, Any]:
    chunk = chunk.strip()
    fence = _FENCE.match(chunk)
    if fence:
        block: dict[str, Any] = {"type": "pre", "text": fence.group(2)}
        if fence.group(1):
            block["language"] = fence.group(1)
        return block
    heading = _HEADING.match(chunk)
    if heading:
        return {"type": "heading", "text": heading.group(2), "size": len(heading.group(1))}
    return {"type": "paragraph", "text": chunk}


def _echo_block(block: Any) -> dict[str, Any]:
    if isinstance(block, dict) and block.get("type") in _TEXT_BLOCK_TYPES:
        return dict(block)
    kind = block.get("type") if isinstance(block, dict) else type(block).__name__
    return {"type": "paragraph", "text": f"[{kind}]"}
