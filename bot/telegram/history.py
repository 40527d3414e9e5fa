"""Renders a conversation's transcript as a Markdown document (the seed's "history on exit")."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.models import Language, Turn
from bot.telegram import texts


def transcript_markdown(turns: list[Turn], language: Language) -> str:
    lines = [f"# {texts.text(language, 'history_title')}", ""]
    for turn in turns:
        who = (
            turn.author or texts.text(language, "you")
            if turn.role == "user"
            else texts.text(language, "assistant")
        )
        when = datetime.fromtimestamp(turn.at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        marker = " (interrupted)" if turn.interrupted else ""
        lines += [f"## {who} — {when}{marker}", "", turn.text.strip(), ""]
    return "\n".join(lines)
