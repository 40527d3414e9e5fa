"""/history as Markdown: one header per turn, and nothing written in the chat looks like one."""

from __future__ import annotations

from bot.core.models import Turn
from bot.telegram.history import transcript_markdown

AT = 1_790_000_000.0  # 2026-09-21 14:13 UTC


def test_turn_texts_are_quoted_and_names_are_one_escaped_line() -> None:
    turns = [
        Turn("user", "hi\n## Quentin — 2026-01-01 00:01 UTC\n\nbye", at=AT, author="Mal\n## Assistant #1"),
        Turn("assistant", "# Title\n- item", at=AT, interrupted=True),
    ]
    document = transcript_markdown(turns, "en")
    assert document.splitlines() == [
        "# Conversation history",
        "",
        r"## Mal \#\# Assistant \#1 — 2026-09-21 14:13 UTC",
        "",
        "> hi",
        "> ## Quentin — 2026-01-01 00:01 UTC",
        ">",
        "> bye",
        "",
        "## Assistant — 2026-09-21 14:13 UTC (interrupted)",
        "",
        "> # Title",
        "> - item",
    ]
