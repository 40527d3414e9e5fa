"""The Responses stream: text split into small deltas, their pacing, and the SSE events around them.

Event order, as OpenAI's Responses API streams it (``sequence_number`` counts from 0)::

    response.created, response.in_progress,
    [file_search: response.output_item.added (file_search_call), response.file_search_call.in_progress,
     response.file_search_call.searching, response.file_search_call.completed,
     response.output_item.done (file_search_call with results)]
    [web_search: response.output_item.added (web_search_call), response.web_search_call.in_progress,
     response.web_search_call.searching, response.web_search_call.completed,
     response.output_item.done (web_search_call with its sources)]
    response.output_item.added (message), response.content_part.added,
    response.output_text.delta × n, [response.output_text.annotation.added × citations],
    response.output_text.done, response.content_part.done, response.output_item.done,
    response.completed

``emu:fail_mid`` replaces everything after about half of the deltas with one ``error`` event.
``emu:incomplete`` ends after about half of the deltas with ``response.output_text.done``,
``response.content_part.done``, ``response.output_item.done`` (status ``incomplete``) and
``response.incomplete``. ``emu:filtered`` and ``emu:failed`` send no message item: ``response.created``,
``response.in_progress``, [file search], then ``response.incomplete`` or ``response.failed``.
``emu:refusal`` streams the text as ``response.refusal.delta`` events in a ``refusal`` content part,
closed by ``response.refusal.done``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncGenerator
from typing import Any

from .state import StoredResponse

_DELTA = re.compile(r"\s*\S{1,12}|\s+")


def split_into_deltas(text: str) -> list[str]:
    """Word-sized pieces (leading whitespace kept, long words cut at 12 characters); they join to ``text``."""
    return _DELTA.findall(text)


async def paced(
    pieces: list[str],
    *,
    first_at: float,
    chars_per_second: float,
    pause_ms: int | None,
    stop: asyncio.Event,
) -> AsyncGenerator[str, None]:
    """Yield the pieces on schedule: the first at wall-clock time ``first_at``, each next one after
    ``len(piece) / chars_per_second`` seconds (or ``pause_ms``). Stops early once ``stop`` is set."""
    due = first_at
    for index, piece in enumerate(pieces):
        if index:
            due += pause_ms / 1000 if pause_ms is not None else len(piece) / max(chars_per_second, 1e-3)
        if await stopped_before(due, stop):
            return
        yield piece


async def stopped_before(due: float, stop: asyncio.Event) -> bool:
    """Wait until wall-clock time ``due``; True if ``stop`` got set first."""
    delay = due - time.time()
    if stop.is_set():
        return True
    if delay <= 0:
        await asyncio.sleep(0)
        return stop.is_set()
    try:
        async with asyncio.timeout(delay):
            await stop.wait()
    except TimeoutError:
        return False
    return True


def encode_sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


class ResponseEvents:
    """Builds the stream's events for one response, numbering them as it goes."""

    def __init__(self, response: StoredResponse) -> None:
        self._response = response
        self._sequence = 0

    @property
    def _web_index(self) -> int:
        return 1 if self._response.search_call is not None else 0

    @property
    def _message_index(self) -> int:
        return self._web_index + (1 if self._response.web_call is not None else 0)

    def _event(self, event_type: str, **fields: Any) -> dict[str, Any]:
        event = {"type": event_type, **fields, "sequence_number": self._sequence}
        self._sequence += 1
        return event

    def _text_location(self) -> dict[str, Any]:
        return {"item_id": self._response.message_id, "output_index": self._message_index, "content_index": 0}

    def opening(self) -> list[dict[str, Any]]:
        snapshot = self._response.to_api()
        return [
            self._event("response.created", response=snapshot),
            self._event("response.in_progress", response=snapshot),
        ]

    def file_search(self) -> list[dict[str, Any]]:
        call = self._response.search_call
        if call is None:
            return []
        location = {"output_index": 0, "item_id": call["id"]}
        return [
            self._event(
                "response.output_item.added",
                output_index=0,
                item={**call, "status": "in_progress", "results": None},
            ),
            self._event("response.file_search_call.in_progress", **location),
            self._event("response.file_search_call.searching", **location),
            self._event("response.file_search_call.completed", **location),
            self._event("response.output_item.done", output_index=0, item=call),
        ]

    def web_search(self) -> list[dict[str, Any]]:
        call = self._response.web_call
        if call is None:
            return []
        index = self._web_index
        location = {"output_index": index, "item_id": call["id"]}
        searching = {**call, "status": "in_progress", "action": {**call["action"], "sources": []}}
        return [
            self._event("response.output_item.added", output_index=index, item=searching),
            self._event("response.web_search_call.in_progress", **location),
            self._event("response.web_search_call.searching", **location),
            self._event("response.web_search_call.completed", **location),
            self._event("response.output_item.done", output_index=index, item=call),
        ]

    def message_start(self) -> list[dict[str, Any]]:
        item = {**self._response.message_item(), "status": "in_progress", "content": []}
        if self._response.refusal:
            part: dict[str, Any] = {"type": "refusal", "refusal": ""}
        else:
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return [
            self._event("response.output_item.added", output_index=self._message_index, item=item),
            self._event("response.content_part.added", **self._text_location(), part=part),
        ]

    def delta(self, piece: str) -> dict[str, Any]:
        if self._response.refusal:
            return self._event("response.refusal.delta", **self._text_location(), delta=piece)
        return self._event("response.output_text.delta", **self._text_location(), delta=piece, logprobs=[])

    def message_end(self) -> list[dict[str, Any]]:
        """Annotations, then the done events and ``response.completed`` (call after completing)."""
        response = self._response
        events = [
            self._event(
                "response.output_text.annotation.added",
                **self._text_location(),
                annotation_index=index,
                annotation=annotation,
            )
            for index, annotation in enumerate(response.annotations)
            if not response.refusal
        ]
        return [*events, *self._message_done(), self._event("response.completed", response=response.to_api())]

    def message_cut(self) -> list[dict[str, Any]]:
        """The message closed as it stands, then ``response.incomplete`` (call after finishing)."""
        return [*self._message_done(), self.incomplete()]

    def _message_done(self) -> list[dict[str, Any]]:
        response = self._response
        message = response.message_item()
        if response.refusal:
            done = self._event("response.refusal.done", **self._text_location(), refusal=response.output_text)
        else:
            done = self._event(
                "response.output_text.done", **self._text_location(), text=response.output_text, logprobs=[]
            )
        return [
            done,
            self._event("response.content_part.done", **self._text_location(), part=message["content"][0]),
            self._event("response.output_item.done", output_index=self._message_index, item=message),
        ]

    def incomplete(self) -> dict[str, Any]:
        return self._event("response.incomplete", response=self._response.to_api())

    def failed(self) -> dict[str, Any]:
        return self._event("response.failed", response=self._response.to_api())

    def error(self, message: str) -> dict[str, Any]:
        return self._event("error", code="server_error", message=message, param=None)
