"""Splitting the answer stream's bytes into server-sent events (bot.yandex.answers.server_sent_events),
as the SSE format defines them (WHATWG HTML, "Server-sent events", parsing an event stream): the body
arrives in chunks that may cut a line, a line ending (CRLF), or a UTF-8 character anywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from bot.yandex.answers import server_sent_events

EVENTS = (
    b"event: response.created\r\n"
    b'data: {"type":"response.created","response":{"id":"r1"}}\r\n'
    b"\r\n"
    b": a comment line, ignored\n"
    b"event: response.output_text.delta\n"
    b'data: {"delta":"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"}\n'
    b"\n"
    b"event: response.output_text.delta\r"
    b'data:{"delta":"no space after the colon"}\r'
    b"\r"
    b"id: 7\n"
    b"data: first line\n"
    b"data\n"
    b"data: third line\n"
    b"\n"
    b"event: keepalive\n"
    b"\n"
    b"database: not a data field\n"
    b'data: {"type":"response.completed"}'
)
EXPECTED = [
    (b"response.created", b'{"type":"response.created","response":{"id":"r1"}}'),
    (b"response.output_text.delta", '{"delta":"Привет"}'.encode()),
    (b"response.output_text.delta", b'{"delta":"no space after the colon"}'),
    (None, b"first line\n\nthird line"),
    (None, b'{"type":"response.completed"}'),
]


async def _chunks(parts: Sequence[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _events(parts: Sequence[bytes]) -> list[tuple[bytes | None, bytes]]:
    return [event async for event in server_sent_events(_chunks(parts))]


async def test_a_whole_body_splits_into_its_events() -> None:
    assert await _events([EVENTS]) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 16, 64])
async def test_the_same_events_whatever_the_chunks(size: int) -> None:
    """Cuts inside a CRLF, inside a field name, inside a multi-byte character: the same events."""
    parts = [EVENTS[i : i + size] for i in range(0, len(EVENTS), size)]
    assert await _events(parts) == EXPECTED


async def test_a_cr_ending_a_chunk_waits_for_its_lf() -> None:
    """A CR at a chunk's end followed by an LF is one line ending, not an end of line and a blank
    line (which would end the event early and lose its data)."""
    parts = [b"event: a\r", b"\ndata: one\r", b"\ndata: two\r", b"\n\r", b"\n"]
    assert await _events(parts) == [(b"a", b"one\ntwo")]


async def test_an_event_without_data_and_empty_chunks_yield_nothing() -> None:
    assert await _events([b"", b"event: ping\n\n", b"", b": comment\n\n"]) == []
