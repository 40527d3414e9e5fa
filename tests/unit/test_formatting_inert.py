"""The model's output never acts in the chat: tg:// links and @mentions are shown as plain text."""

from __future__ import annotations

from bot.telegram.formatting import WORD_JOINER, inert_markdown, markdown_to_entities


def test_tg_links_and_mentions_from_the_model_stay_plain_text() -> None:
    shown = inert_markdown(
        "see [Ann](tg://user?id=7), @ann_admin, a@b.com, <tg://join?invite=x>, [w](https://t.me/x)"
    )
    assert shown == (
        f"see Ann, @{WORD_JOINER}ann_admin, a@b.com, <tg:{WORD_JOINER}//join?invite=x>, [w](https://t.me/x)"
    )


def test_no_entity_ever_links_into_telegram() -> None:
    chunk = markdown_to_entities("[Ann](tg://user?id=7) and [site](https://example.org)")
    assert [e.url for e in chunk.entities] == ["https://example.org"]
