"""Names users chose, made safe to show: bidi controls, line breaks, length."""

from __future__ import annotations

import pytest

from bot.core.display import clean_file_name, clean_name, short_file_name, strip_bidi

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def test_bidirectional_controls_are_removed() -> None:
    assert strip_bidi(f"report{BIDI}.md") == "report.md"
    assert clean_file_name("photo\u202egpj.exe") == "photogpj.exe", "the real extension shows"


def test_names_are_one_line_of_plain_text() -> None:
    assert clean_name("Eve\n⟦x⟧\t\u0007 Smith\u202e") == "Eve ⟦x⟧ Smith"
    assert clean_name("👩\u200d💻 Dev") == "👩\u200d💻 Dev", "joiners inside emoji stay"
    assert clean_name("x" * 100, limit=10) == "x" * 9 + "…"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("notes.md", "notes.md"),
        ("a" * 100 + ".pdf", "a" * 43 + "….pdf"),
        ("b" * 100, "b" * 47 + "…"),
        ("c" * 60 + ".averyveryverylongextension", "c" * 47 + "…"),
    ],
)
def test_long_file_names_keep_their_start_and_extension(name: str, expected: str) -> None:
    shown = short_file_name(name)
    assert shown == expected
    assert len(shown) <= 48
