"""Per-answer measurements from what the fakes recorded, and their summaries. Pure functions, no I/O.

Definitions (all times are unix wall-clock seconds recorded by the fakes, comparable across processes):

- A **frame** is anything the user could see of the answer: an accepted draft (`drafts`) or a version of
  a message the bot sent or edited (`bot_messages[].versions`).
- A frame **shows** `n` characters of the model's answer when the first `n` characters of the model's
  `output_text` are a prefix of the frame's text (whitespace runs compared as one space, so formatting
  that reflows blank lines does not matter). A placeholder ("thinking…", an empty draft) shows nothing.
- **First visible text**: the earliest frame showing at least the model's first word
  (`MIN_VISIBLE_CHARS`). **Overhead** = that time − the model's `first_delta_at`.
- **Display lag** of a streaming frame (every frame before the final one) = its time − the time the model
  had produced the characters it shows (from the emulator's per-delta `[at, total_chars]`).
- **Final delay** = the first message (not draft) showing the whole answer − the model's `completed_at`.
- **First visible − ideal**: the ideal is a scheduler that shows each answer's first frame in the order
  of its model's first delta at `IDEAL_CALLS_PER_SECOND`: sorted by first delta,
  `ideal_k = max(first_delta_k, ideal_{k-1} + 1 / 25 s)` (issue 13). It says what the bot's own queueing
  adds beyond what one rolling second of Telegram's global limit must cost anyway.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

MIN_VISIBLE_CHARS = 3
"""A frame counts as visible text once it shows this many characters of the answer ("You" here)."""
IDEAL_CALLS_PER_SECOND = 25.0
"""The ideal scheduler's rate of first frames (the bot's global budget; Telegram allows about 30/s)."""


@dataclass(frozen=True, slots=True)
class Frame:
    at: float
    text: str
    is_draft: bool


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """The emulator's record of one model response (`GET /__emu/responses`)."""

    output_text: str
    status: str
    started_at: float
    first_delta_at: float | None
    completed_at: float | None
    deltas: tuple[tuple[float, int], ...]

    @classmethod
    def of(cls, record: dict[str, Any]) -> ModelRecord:
        return cls(
            output_text=str(record["output_text"]),
            status=str(record["status"]),
            started_at=float(record["started_at"]),
            first_delta_at=record["first_delta_at"],
            completed_at=record["completed_at"],
            deltas=tuple((float(at), int(chars)) for at, chars in record.get("deltas") or ()),
        )

    def produced_at(self, chars: int) -> float | None:
        """When the model had produced at least `chars` characters (None if it never did)."""
        totals = [total for _, total in self.deltas]
        index = bisect.bisect_left(totals, chars)
        return self.deltas[index][0] if index < len(self.deltas) else None


@dataclass(frozen=True, slots=True)
class AnswerMetrics:
    delivered: bool
    """A message (not a draft) showed the whole answer."""
    overhead_s: float | None
    from_question_s: float | None
    """First visible text − the moment the user's message was sent."""
    final_delay_s: float | None
    lags_s: tuple[float, ...]
    streaming_frames: int
    first_delta_at: float | None = None
    """The model's first delta (unix seconds), when it produced one."""
    first_visible_at: float | None = None
    """The first frame showing text (unix seconds), when one did."""


def shown_chars(frame_text: str, output: str) -> int:
    """How many leading characters of `output` the frame shows: the length of their common prefix, with
    whitespace runs comparing equal (a footer or note after the answer does not reduce it)."""
    i = j = 0
    text = frame_text.lstrip()
    matched = 0
    while i < len(text) and j < len(output):
        if text[i].isspace() and output[j].isspace():
            while i < len(text) and text[i].isspace():
                i += 1
            while j < len(output) and output[j].isspace():
                j += 1
            matched = j
            continue
        if text[i] != output[j]:
            break
        i += 1
        j += 1
        matched = j
    return matched


def measure(record: ModelRecord | None, frames: Sequence[Frame], asked_at: float) -> AnswerMetrics:
    """Everything we report about one answer."""
    if record is None or not record.output_text or record.first_delta_at is None:
        return AnswerMetrics(False, None, None, None, (), 0)
    output = record.output_text
    ordered = sorted(frames, key=lambda frame: frame.at)
    visible = [
        (frame, shown)
        for frame in ordered
        if (shown := shown_chars(frame.text, output)) >= min(MIN_VISIBLE_CHARS, len(output))
    ]
    whole = len(output.rstrip())
    final_at = next(
        (frame.at for frame, shown in visible if not frame.is_draft and shown >= whole),
        None,
    )
    first_at = visible[0][0].at if visible else None
    lags: list[float] = []
    for frame, shown in visible:
        if final_at is not None and frame.at >= final_at:
            break
        produced = record.produced_at(shown)
        if produced is not None:
            lags.append(frame.at - produced)
    return AnswerMetrics(
        delivered=final_at is not None,
        overhead_s=None if first_at is None else first_at - record.first_delta_at,
        from_question_s=None if first_at is None else first_at - asked_at,
        final_delay_s=(
            None if final_at is None or record.completed_at is None else final_at - record.completed_at
        ),
        lags_s=tuple(lags),
        streaming_frames=len(lags),
        first_delta_at=record.first_delta_at,
        first_visible_at=first_at,
    )


def ideal_first_frames(
    first_deltas: Sequence[float | None], calls_per_second: float = IDEAL_CALLS_PER_SECOND
) -> list[float | None]:
    """When the ideal scheduler would show each answer's first frame (None where the model produced no
    delta): in the order of the first deltas, never before its own and at most `calls_per_second`."""
    gap = 1.0 / calls_per_second
    ideal: list[float | None] = [None] * len(first_deltas)
    previous: float | None = None
    for index in sorted(
        (i for i, at in enumerate(first_deltas) if at is not None), key=lambda i: first_deltas[i] or 0.0
    ):
        first_delta = first_deltas[index]
        assert first_delta is not None
        previous = first_delta if previous is None else max(first_delta, previous + gap)
        ideal[index] = previous
    return ideal


def behind_ideal(answers: Sequence[AnswerMetrics]) -> list[float | None]:
    """First visible − ideal per answer (seconds; None: never visible, or the model never answered)."""
    ideal = ideal_first_frames([answer.first_delta_at for answer in answers])
    return [
        None if answer.first_visible_at is None or at is None else answer.first_visible_at - at
        for answer, at in zip(answers, ideal, strict=True)
    ]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def distribution(
    values: Iterable[float | None], *, missing_is_never: bool = False
) -> dict[str, float | int | None]:
    """count, p50, p95, max and mean of the values that exist.

    With `missing_is_never`, a missing value (an answer that never became visible) ranks above every
    measured one, so percentiles are not flattered by leaving out what never arrived: a percentile
    that falls among them is None, and `never` says how many there were. The mean is over the
    measured values only.
    """
    items = list(values)
    present = [value for value in items if value is not None]
    never = len(items) - len(present) if missing_is_never else 0
    result: dict[str, float | int | None] = {
        "count": len(present),
        "p50": None,
        "p95": None,
        "max": None,
        "mean": sum(present) / len(present) if present else None,
    }
    if missing_is_never:
        result["never"] = never
    if present:
        ranked: list[float] = sorted(present) + [math.inf] * never
        for key, q in (("p50", 50.0), ("p95", 95.0)):
            value = percentile(ranked, q)
            result[key] = None if math.isinf(value) else value
        result["max"] = None if never else max(present)
    return result
