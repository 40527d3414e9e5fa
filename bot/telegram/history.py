"""Renders a conversation's transcript as a Markdown document (the seed's "history on exit").

Each turn is a `## <who> — <when>` header followed by its text as a block quote: every line a user
(or the model) wrote starts with ">", so nothing written in a conversation can pass for a turn
header, and names are one clean line with Markdown's markers escaped.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot.core.display import clean_name
from bot.core.models import Language, Turn
from bot.telegram import texts

_NAME_MARKERS = re.compile(r"([\\`*_\[\]~<>|#])")


def transcript_markdown(turns: list[Turn], language: Language) -> str:
    lines = [f"# {texts.text(language, 'history_title')}", ""]
    for turn in turns:
        if turn.role == "user":
            who = _name(turn.author) if turn.author else texts.text(language, "you")
        else:
            who = texts.text(language, "assistant")
        when = datetime.fromtimestamp(turn.at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        marker = " (interrupted)" if turn.interrupted else ""
        lines += [f"## {who} — {when}{marker}", "", *_quoted(turn.text), ""]
    return "\n".join(lines)


def _name(author: str) -> str:
    return _NAME_MARKERS.sub(r"\\\1", clean_name(author)) or "?"


def _quoted(text: str) -> list[str]:
    return [f"> {line}".rstrip() for line in text.strip().splitlines()] or [">"]
