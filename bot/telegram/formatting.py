"""Turning the model's Markdown into what Telegram accepts, and splitting it without breaking it.

- classic: Markdown → plain text + entities (telegramify-markdown), split at 4096 UTF-16 units on
  paragraph, line, sentence or word boundaries, never inside a code block when avoidable; entities
  crossing a boundary are clipped into both parts, so formatting is never broken.
- rich: the Markdown itself (Bot API rich messages render it natively), split at 32 768 characters
  on the same boundaries, closing and reopening a code fence that a boundary falls into.
- plain: the last resort when Telegram refuses our entities.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import telegramify_markdown
from aiogram.types import MessageEntity

from bot.core.display import short_file_name

CLASSIC_LIMIT = 4096
RICH_LIMIT = 32_768
MAX_WEB_SOURCES = 5
_MIN_FILL = 0.5  # a boundary must leave the chunk at least half full, else cut harder
_SENTENCE_END = re.compile(r"[.!?…](?=[\s\"')\]»]|$)")
# Inline-significant characters only: notes and file names sit inside a line, never at its start.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]~<>|])")
_FENCE = re.compile(r"^(```|~~~)(.*)$", re.MULTILINE)
_HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_HOST = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")


# What the model writes is shown as Markdown, but it may repeat what users chose (names, file names,
# questions): a tg:// link (a user mention, a "join this chat" link) or an @username would act in
# the chat. Those are shown as plain text: the link keeps its words, the @ or "tg:" gets a word
# joiner (U+2060) that stops Telegram from making a link or a mention of it and is invisible.
_TG_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?tg:[^)\n]*\)", re.IGNORECASE)
_TG_SCHEME = re.compile(r"(?i)\b(tg):(?=//)")
_MENTION = re.compile(r"(?<![\w@/])@(?=[A-Za-z0-9_]{3,})")
WORD_JOINER = "\u2060"


def inert_markdown(markdown: str) -> str:
    """The model's Markdown with tg:// links and @mentions made plain text (see above)."""
    text = _TG_LINK.sub(r"\1", markdown)
    text = _TG_SCHEME.sub(lambda m: f"{m.group(1)}:{WORD_JOINER}", text)
    return _MENTION.sub(f"@{WORD_JOINER}", text)


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    entities: tuple[MessageEntity, ...] = ()


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def escape_markdown(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def with_sources(markdown: str, sources: Sequence[str], label: str, web_sources: Sequence[str] = ()) -> str:
    """Append a compact footer naming the documents the answer used, then the web pages it cites as
    links whose text is their domain (see `web_links`). Classic messages turn the links into
    entities, rich messages render them: the Markdown never shows."""
    links = web_links(web_sources)
    if not sources and not links:
        return markdown
    names = [escape_markdown(short_file_name(name)) for name in sources]
    names += [f"[{escape_markdown(domain)}]({url})" for domain, url in links]
    return f"{markdown.rstrip()}\n\n📎 *{escape_markdown(label)}:* {', '.join(names)}"


def web_links(addresses: Sequence[str], limit: int = MAX_WEB_SOURCES) -> list[tuple[str, str]]:
    """(domain, URL) for each cited web address, in order: http(s) only (Yandex may cite a bare host,
    which gets https://), one per domain (`www.` aside), at most `limit`. The URL is escaped so that it
    cannot end a Markdown link early."""
    links: list[tuple[str, str]] = []
    seen: set[str] = set()
    for address in addresses:
        url = address.strip()
        if not _HAS_SCHEME.match(url):
            url = f"https://{url}"
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            continue
        if parts.scheme.lower() not in ("http", "https") or not host or not _HOST.fullmatch(host):
            continue
        domain = host.removeprefix("www.")
        if domain in seen:
            continue
        seen.add(domain)
        links.append((domain, quote(url, safe=":/?#@!$&'*+,;=%~")))
        if len(links) == limit:
            break
    return links


def markdown_to_entities(markdown: str) -> Chunk:
    text, entities = telegramify_markdown.convert(markdown)
    converted = tuple(
        MessageEntity(
            type=str(e.type),
            offset=e.offset,
            length=e.length,
            url=e.url,
            language=e.language,
            custom_emoji_id=e.custom_emoji_id,
        )
        for e in entities
        # Never a link into Telegram itself (a mention, a join link), whatever the Markdown said.
        if not (e.url or "").lower().startswith("tg:")
    )
    return Chunk(text=text, entities=converted)


def classic_chunks(markdown: str, limit: int = CLASSIC_LIMIT) -> list[Chunk]:
    whole = markdown_to_entities(markdown)
    if not whole.text.strip():
        whole = Chunk(text=markdown)
    return split_chunk(whole, limit)


def plain_chunks(text: str, limit: int = CLASSIC_LIMIT) -> list[Chunk]:
    return split_chunk(Chunk(text=text), limit)


def rich_parts(markdown: str, limit: int = RICH_LIMIT) -> list[str]:
    """Split Markdown for rich messages (limit in characters), keeping code fences balanced."""
    parts: list[str] = []
    reopen = ""
    rest = markdown
    while rest:
        budget = limit - len(reopen) - 4  # room for a closing fence
        if len(reopen) + len(rest) <= limit:
            parts.append(reopen + rest)
            break
        cut = _boundary(rest, budget, weight=len)
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip("\n")
        part = reopen + head
        open_fence = _open_fence(part)
        if open_fence is not None:
            part += "\n```"
            reopen = f"```{open_fence}\n"
        else:
            reopen = ""
        parts.append(part)
    return [p for p in parts if p.strip()]


def split_chunk(chunk: Chunk, limit: int) -> list[Chunk]:
    text = chunk.text
    offsets = _utf16_offsets(text)
    pre_spans = [
        (e.offset, e.offset + e.length) for e in chunk.entities if e.type in ("pre", "code", "blockquote")
    ]
    result: list[Chunk] = []
    start = 0
    while start < len(text):
        if offsets[-1] - offsets[start] <= limit:
            end = next_start = len(text)
        else:
            window_end = _max_end(offsets, start, limit)
            end = start + _boundary(
                text[start:window_end], offsets[window_end] - offsets[start], weight=utf16_len
            )
            end = _avoid_splitting_spans(end, start, offsets, pre_spans, limit)
            next_start = end
        piece_end = end
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        if piece_end > start:
            result.append(
                Chunk(
                    text=text[start:piece_end],
                    entities=_clip(chunk.entities, offsets[start], offsets[piece_end]),
                )
            )
        start = next_start
        while start < len(text) and text[start].isspace():
            start += 1
    return result


def _utf16_offsets(text: str) -> list[int]:
    offsets = [0]
    total = 0
    for ch in text:
        total += 2 if ord(ch) > 0xFFFF else 1
        offsets.append(total)
    return offsets


def _max_end(offsets: list[int], start: int, limit: int) -> int:
    """Largest char index e with offsets[e] - offsets[start] <= limit (binary search)."""
    lo, hi = start, len(offsets) - 1
    target = offsets[start] + limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if offsets[mid] <= target:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _boundary(window: str, budget: int, weight: Callable[[str], int]) -> int:
    """Where to cut `window` (at most `budget` units long): the latest clean boundary in its second half."""
    if weight(window) > budget:
        window = window[:budget]
    minimum = int(len(window) * _MIN_FILL)
    for finder in (_last_paragraph, _last_line, _last_sentence, _last_space):
        cut = finder(window)
        if cut is not None and cut >= minimum:
            return cut
    return max(1, len(window))


def _last_paragraph(window: str) -> int | None:
    i = window.rfind("\n\n")
    return i + 2 if i >= 0 else None


def _last_line(window: str) -> int | None:
    i = window.rfind("\n")
    return i + 1 if i >= 0 else None


def _last_sentence(window: str) -> int | None:
    last = None
    for match in _SENTENCE_END.finditer(window):
        last = match.end()
    return last


def _last_space(window: str) -> int | None:
    i = window.rfind(" ")
    return i + 1 if i >= 0 else None


def _avoid_splitting_spans(
    end: int, start: int, offsets: list[int], spans: list[tuple[int, int]], limit: int
) -> int:
    """Move a cut that falls inside a code/quote block to just before the block, if that is not tiny."""
    cut16 = offsets[end]
    for span_start, span_end in spans:
        if span_start < cut16 < span_end:
            block_start = _char_index(offsets, span_start)
            if offsets[block_start] - offsets[start] >= limit * _MIN_FILL:
                return block_start
    return end


def _char_index(offsets: list[int], unit: int) -> int:
    lo, hi = 0, len(offsets) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if offsets[mid] < unit:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _clip(entities: Sequence[MessageEntity], begin: int, end: int) -> tuple[MessageEntity, ...]:
    clipped: list[MessageEntity] = []
    for e in entities:
        lo, hi = max(e.offset, begin), min(e.offset + e.length, end)
        if hi > lo:
            clipped.append(e.model_copy(update={"offset": lo - begin, "length": hi - lo}))
    return tuple(clipped)


def _open_fence(markdown: str) -> str | None:
    """The info string of a code fence left open at the end of `markdown`, if any."""
    open_info: str | None = None
    for match in _FENCE.finditer(markdown):
        open_info = match.group(2).strip() if open_info is None else None
    return open_info
