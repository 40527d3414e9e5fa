"""Contract: the fake's strict Telegram-HTML parser and UTF-16 accounting.

Most cases call the parser directly (fast, exhaustive); one round trip checks that the errors reach aiogram
as `TelegramBadRequest` with the server's wording.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from tests.fakes.telegram.errors import BotApiError
from tests.fakes.telegram.html import parse_html
from tests.fakes.telegram.server import TelegramFake
from tests.fakes.telegram.text import detect_entities, finalize_text, utf16_len

USERS = {42: {"id": 42, "is_bot": False, "first_name": "Zoe"}}


def parse(source: str, *, strict_ampersand: bool = True) -> tuple[str, list[dict[str, Any]]]:
    return parse_html(source, strict_ampersand=strict_ampersand, lookup_user=USERS.get)


def parse_error(source: str) -> str:
    with pytest.raises(BotApiError) as caught:
        parse(source)
    assert caught.value.error_code == 400
    return caught.value.description


@pytest.mark.parametrize(
    ("source", "text", "entities"),
    [
        ("<b>a</b><strong>b</strong>", "ab", [("bold", 0, 1), ("bold", 1, 1)]),
        (
            "<i>i</i><em>e</em><u>u</u><ins>n</ins>",
            "ieun",
            [("italic", 0, 1), ("italic", 1, 1), ("underline", 2, 1), ("underline", 3, 1)],
        ),
        (
            "<s>1</s><strike>2</strike><del>3</del>",
            "123",
            [("strikethrough", 0, 1), ("strikethrough", 1, 1), ("strikethrough", 2, 1)],
        ),
        (
            '<tg-spoiler>x</tg-spoiler><span class="tg-spoiler">y</span>',
            "xy",
            [("spoiler", 0, 1), ("spoiler", 1, 1)],
        ),
        ("<code>c</code>", "c", [("code", 0, 1)]),
        ("<pre>p</pre>", "p", [("pre", 0, 1)]),
        ("<blockquote>q</blockquote>", "q", [("blockquote", 0, 1)]),
        ("<blockquote expandable>q</blockquote>", "q", [("expandable_blockquote", 0, 1)]),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍", [("custom_emoji", 0, 2)]),
        ("<B>caps</B>", "caps", [("bold", 0, 4)]),
        ("<b>outer <i>inner</i></b>", "outer inner", [("bold", 0, 11), ("italic", 6, 5)]),
        ("<b></b>empty", "empty", []),
        ("&lt;tag&gt; &amp; &quot;q&quot; &#65;&#x42;", '<tag> & "q" AB', []),
        ("😀<b>x</b>", "😀x", [("bold", 2, 1)]),
        ("a > b", "a > b", []),
    ],
)
def test_supported_markup(source: str, text: str, entities: list[tuple[str, int, int]]) -> None:
    parsed_text, parsed = parse(source)
    assert parsed_text == text
    assert [(e["type"], e["offset"], e["length"]) for e in parsed] == entities


def test_pre_with_language_links_and_mentions() -> None:
    text, entities = parse('<pre><code class="language-python">print(1)</code></pre>')
    assert (text, entities) == ("print(1)", [{"type": "pre", "offset": 0, "length": 8, "language": "python"}])
    _, links = parse('<a href="https://example.com/x?a=1&amp;b=2">x</a><a href="example.org">y</a>')
    assert [e["url"] for e in links] == ["https://example.com/x?a=1&b=2", "http://example.org/"]
    _, mention = parse('<a href="tg://user?id=42">Zoe</a>')
    assert mention == [{"type": "text_mention", "offset": 0, "length": 3, "user": USERS[42]}]
    _, nested = finalize_text(*parse("<code><b>x</b> y</code>"), allow_empty=False)
    assert [e["type"] for e in nested] == ["code"]  # nothing may be nested in code


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("<p>x</p>", 'Unsupported start tag "p" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("ok <b", "Unclosed start tag at byte offset 3"),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("text</b>", "Unexpected end tag at byte offset 4"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        (
            "<a href>x</a>",
            'Expected equal sign in declaration of an attribute of the tag "a" at byte offset 0',
        ),
        ("<tg-emoji>x</tg-emoji>", "Invalid custom emoji identifier specified"),
        ("Tom & Jerry", 'Unescaped "&" at byte offset 4'),
        ("Привет <x>", 'Unsupported start tag "x" at byte offset 13'),  # byte offsets, not characters
    ],
)
def test_malformed_markup_is_rejected_with_byte_offsets(source: str, error: str) -> None:
    assert parse_error(source) == f"Bad Request: can't parse entities: {error}"


def test_bare_ampersand_can_be_allowed_like_the_real_server() -> None:
    assert parse("Tom & Jerry &nbsp;", strict_ampersand=False) == ("Tom & Jerry &nbsp;", [])


def test_utf16_length_and_entity_detection() -> None:
    assert utf16_len("😀a") == 3 and utf16_len("Ж") == 1
    text = "😀 /ask@test_assistant_bot hi @zoe_user and @ab, a/b, mail@example.com"
    found = [
        (e["type"], text.encode("utf-16-le")[2 * e["offset"] : 2 * (e["offset"] + e["length"])])
        for e in detect_entities(text)
    ]
    assert [(kind, raw.decode("utf-16-le")) for kind, raw in found] == [
        ("bot_command", "/ask@test_assistant_bot"),
        ("mention", "@zoe_user"),
    ]


def test_trimming_shifts_entities() -> None:
    text, entities = finalize_text(
        "\n  hi  ", [{"type": "bold", "offset": 3, "length": 4}], allow_empty=False
    )
    assert (text, entities) == ("hi", [{"type": "bold", "offset": 0, "length": 2}])


async def test_parse_errors_reach_aiogram_verbatim(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user = await telegram_fake.create_user("Ann")
    chat = await telegram_fake.create_private_chat(user)
    with pytest.raises(TelegramBadRequest) as caught:
        await tg_bot.send_message(chat["id"], "<b>unclosed", parse_mode="HTML")
    assert (
        caught.value.message
        == "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\""
    )
    [call] = telegram_fake.calls("sendMessage")
    assert call["ok"] is False and call["error_code"] == 400 and call["params"]["text"] == "<b>unclosed"
