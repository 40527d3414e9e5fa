"""What a queued job carries: Telegram-side values as JSON, so any replica can run the job.

Job ids come from the update that asked for the job, so a redelivered update finds its job already
accepted (see core.lanes) instead of queueing a second answer.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.lanes import LAST_ORDER
from bot.core.models import ConversationKey, Reference, ReferenceKind
from bot.logs import correlation_id
from bot.telegram.delivery import Destination


def lane_name(key: ConversationKey) -> str:
    """One lane per conversation. '/' instead of ':' keeps lanes out of chat-wide key operations."""
    return key.as_path().replace(":", "/")


def job_identity(kind: str) -> tuple[str, int]:
    """(job id, order) from the update being handled; jobs outside an update go last."""
    update_id = correlation_id.get()
    if update_id is not None and update_id.isdigit():
        return f"{kind}:{update_id}", int(update_id)
    return f"{kind}:x{secrets.token_hex(8)}", LAST_ORDER


def key_to_json(key: ConversationKey) -> list[int | None]:
    return [key.chat_id, key.thread_id, key.user_id]


def key_from_json(data: Sequence[int | None]) -> ConversationKey:
    chat_id, thread_id, user_id = data
    if chat_id is None:
        raise ValueError("a conversation key needs a chat id")
    return ConversationKey(chat_id, thread_id, user_id)


def destination_to_json(dest: Destination) -> dict[str, Any]:
    return {
        "chat_id": dest.chat_id,
        "is_group": dest.is_group,
        "thread_id": dest.thread_id,
        "reply_to": dest.reply_to,
    }


def destination_from_json(data: Mapping[str, Any]) -> Destination:
    return Destination(
        chat_id=int(data["chat_id"]),
        is_group=bool(data["is_group"]),
        thread_id=data.get("thread_id"),
        reply_to=data.get("reply_to"),
    )


_REFERENCE_KINDS: tuple[ReferenceKind, ...] = ("message", "quote", "forward", "document", "voice", "image")


def reference_to_json(reference: Reference | None) -> dict[str, Any] | None:
    if reference is None:
        return None
    return {
        "text": reference.text,
        "author": reference.author,
        "kind": reference.kind,
        "from_assistant": reference.from_assistant,
        "sent_at": reference.sent_at,
    }


def reference_from_json(data: Mapping[str, Any] | None) -> Reference | None:
    if not data:
        return None
    kind: ReferenceKind = next((k for k in _REFERENCE_KINDS if k == data.get("kind")), "message")
    sent_at = data.get("sent_at")
    return Reference(
        text=str(data.get("text") or ""),
        author=data.get("author"),
        kind=kind,
        from_assistant=bool(data.get("from_assistant")),
        sent_at=float(sent_at) if sent_at is not None else None,
    )
