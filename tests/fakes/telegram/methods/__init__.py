"""Bot API method handlers, one function per method, registered by their Bot API names.

Method names are matched case-insensitively, as the real server does.
"""

from __future__ import annotations

from . import chats, drafts, messages, updates
from .common import Handler

METHODS: dict[str, Handler] = {**chats.HANDLERS, **drafts.HANDLERS, **messages.HANDLERS, **updates.HANDLERS}
DRAFT_METHODS = frozenset({"sendMessageDraft", "sendRichMessageDraft"})
RICH_METHODS = frozenset({"sendRichMessage", "sendRichMessageDraft"})

_BY_LOWER_NAME = {name.lower(): name for name in METHODS}


def canonical_method_name(name: str) -> str:
    """ "sendmessage" → "sendMessage"; unknown names are returned unchanged."""
    return _BY_LOWER_NAME.get(name.lower(), name)


__all__ = ["DRAFT_METHODS", "METHODS", "RICH_METHODS", "Handler", "canonical_method_name"]
