"""Splitting answers for Telegram: limits, boundaries, entities, code fences."""

from __future__ import annotations

import re

from bot.telegram.formatting import (
    Chunk,
    classic_chunks,
    markdown_to_entities,
    rich_parts,
    split_chunk,
    utf16_len,
    with_sources,
)


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def paragraphs(count: int, sentences: int = 10) -> str:
    return "\n\n".join(
        " ".join(f"Paragraph {p} sentence {s} says something." for s in range(sentences))
        for p in range(count)
    )


def test_short_text_is_one_chunk_with_entities() -> None:
    chunks = classic_chunks("Hello **world** and `code`")
    assert len(chunks) == 1
    assert chunks[0].text == "Hello world and code"
    assert {e.type for e in chunks[0].entities} >= {"bold", "code"}


def test_long_text_splits_on_paragraphs_within_the_limit_and_loses_nothing() -> None:
    markdown = paragraphs(40)
    chunks = classic_chunks(markdown)
    assert len(chunks) > 1
    assert all(utf16_len(c.text) <= 4096 for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)  # clean boundaries, never mid-sentence
    assert squash(" ".join(c.text for c in chunks)) == squash(markdown)


def test_a_paragraph_longer_than_the_limit_splits_at_a_sentence_end() -> None:
    markdown = paragraphs(1, sentences=200)
    chunks = classic_chunks(markdown)
    assert len(chunks) > 1
    assert all(c.text.endswith(".") for c in chunks)
    assert squash(" ".join(c.text for c in chunks)) == squash(markdown)


def test_limit_counts_utf16_units_not_characters() -> None:
    emoji_text = "😀 " * 3000  # each emoji is two UTF-16 units
    chunks = split_chunk(Chunk(emoji_text.strip()), 4096)
    assert all(utf16_len(c.text) <= 4096 for c in chunks)
    assert sum(c.text.count("😀") for c in chunks) == 3000


def test_entities_crossing_a_boundary_are_clipped_into_both_chunks() -> None:
    whole = markdown_to_entities("**" + ("bold words here. " * 400).strip() + "**")
    chunks = split_chunk(whole, 4096)
    assert len(chunks) == 2
    for chunk in chunks:
        bold = [e for e in chunk.entities if e.type == "bold"]
        assert bold, "each part keeps its share of the formatting"
        assert all(e.offset + e.length <= utf16_len(chunk.text) for e in chunk.entities)


def test_code_blocks_are_not_split_when_a_boundary_before_them_exists() -> None:
    code = "```python\n" + "\n".join(f"x_{i} = {i}" for i in range(120)) + "\n```"
    markdown = paragraphs(6) + "\n\n" + code
    chunks = classic_chunks(markdown)
    pre_chunks = [c for c in chunks if any(e.type == "pre" for e in c.entities)]
    assert len(pre_chunks) == 1
    assert "x_0 = 0" in pre_chunks[0].text and "x_119 = 119" in pre_chunks[0].text


def test_rich_parts_close_and_reopen_a_split_code_fence() -> None:
    markdown = "Intro\n\n```py\n" + "value = 1\n" * 200 + "```\n"
    parts = rich_parts(markdown, limit=500)
    assert len(parts) > 1
    assert all(len(p) <= 500 for p in parts)
    for part in parts:
        assert part.count("```") % 2 == 0, part
    assert parts[1].startswith("```py\n")


def test_rich_markdown_within_the_limit_is_untouched() -> None:
    markdown = paragraphs(3)
    assert rich_parts(markdown) == [markdown]


def test_sources_footer_escapes_file_names() -> None:
    footer = with_sources("Answer.", ["my_file*.md", "b.pdf"], "Sources")
    chunk = classic_chunks(footer)[0]
    assert chunk.text.endswith("Sources: my_file*.md, b.pdf")
    assert with_sources("Answer.", [], "Sources") == "Answer."
