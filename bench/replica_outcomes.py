"""What the replica benchmark saw, question by question, and how it is summarised (`bench.replicas`).

Every question carries a tag (`c12 q3`: chat 12, its third question) and asks the emulator to echo it
(`emu:echo`), so each answer starts with its question's tag; answers and the bot's notices in groups
also reply to the question's message. A visible bot message (not deleted; what a user scrolling the
chat would see) belongs to the question it replies to, or else to the tag it shows.

Per question, exactly one outcome:

- **answered**: exactly one visible answer, complete (it shows the model's whole output), nothing else;
- **duplicated**: more than one visible message for it: two answers, a partial answer and a full one,
  or an answer and an apology;
- **apologised**: the bot's "my answer to this message was interrupted by a restart" notice (or "a
  restart interrupted me while I was sending the answer"), no answer;
- **answered + notice**: one complete answer and the "interrupted while sending" notice: the replica
  died sending the final text, so the one that resumed it could not tell whether it arrived;
- **partial**: one visible answer that stops short of the model's output, nothing else;
- **other notice**: some other notice of the bot (an error, "queue full", ...), no answer;
- **lost**: nothing visible for it when the run ended.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bench.metrics import distribution, shown_chars
from bot.core.models import Notice
from bot.telegram import texts

JSON = dict[str, Any]
Outcome = Literal[
    "answered", "answered_with_notice", "duplicated", "apologised", "partial", "other_notice", "lost"
]
OUTCOMES: tuple[Outcome, ...] = (
    "answered",
    "answered_with_notice",
    "duplicated",
    "apologised",
    "partial",
    "other_notice",
    "lost",
)
TAG = re.compile(r"\bc(\d+) q(\d+)\b")
APOLOGIES = tuple(
    texts.text(language, notice)
    for notice in (Notice.ANSWER_LOST, Notice.ANSWER_UNCERTAIN)
    for language in ("en", "ru")
)
UNCERTAIN = tuple(texts.text(language, Notice.ANSWER_UNCERTAIN) for language in ("en", "ru"))


@dataclass(frozen=True, slots=True)
class Asked:
    """One question as the driver sent it."""

    tag: str
    chat_id: int
    chat_index: int
    number: int
    """1 for the chat's first question."""
    user_id: int
    is_group: bool
    message_id: int
    asked_at: float
    """Unix time just before the driver posted the user's message to the Telegram fake."""


@dataclass(slots=True)
class QuestionResult:
    asked: Asked
    outcome: Outcome = "lost"
    answers: int = 0
    """Visible answer messages (complete or not)."""
    apologies: int = 0
    uncertain: int = 0  # of which "interrupted while sending the answer"
    notices: int = 0
    complete_at: float | None = None
    """When a visible message first showed the whole answer (the first one, if there are several)."""
    model_requests: int = 0
    """Emulator responses for this question: 2 or more means an interrupted answer was asked again."""
    first_retry_started_at: float | None = None
    message_ids: list[int] = field(default_factory=list)
    complete_times: list[float] = field(default_factory=list)
    """When each visible answer message became complete (one entry per complete message)."""

    @property
    def latency_s(self) -> float | None:
        return None if self.complete_at is None else self.complete_at - self.asked.asked_at

    @property
    def resumed(self) -> bool:
        return self.model_requests >= 2


@dataclass(slots=True)
class ChatOrder:
    chat_id: int
    sequence: list[int]
    """Question numbers of the chat's visible answers and apologies, in message order."""

    @property
    def out_of_order(self) -> int:
        """Messages answering an earlier question than a message before them."""
        count, highest = 0, 0
        for number in self.sequence:
            if number < highest:
                count += 1
            highest = max(highest, number)
        return count


@dataclass(slots=True)
class Observed:
    questions: list[QuestionResult]
    chats: list[ChatOrder]
    unattributed: list[JSON]
    """Visible bot messages that belong to no question of the run (should be none)."""
    removed_messages: int
    """Bot messages deleted by the bot (an interrupted answer's partial text, removed on resume)."""
    stop_buttons_left: int
    """Visible messages still carrying the Stop button after everything settled."""


def model_outputs(responses: Iterable[JSON]) -> dict[str, list[JSON]]:
    """The emulator's responses by question tag, oldest first."""
    by_tag: dict[str, list[JSON]] = {}
    for response in responses:
        match = TAG.search(str(response.get("input_text") or ""))
        if match:
            by_tag.setdefault(match.group(0), []).append(response)
    for records in by_tag.values():
        records.sort(key=lambda record: float(record["started_at"]))
    return by_tag


def _visible_text(message: JSON) -> str:
    return str(message.get("rich_markdown") or message.get("text") or "")


def _complete(text: str, outputs: Sequence[str]) -> bool:
    return any(output and shown_chars(text, output) >= len(output) for output in outputs)


def _complete_at(message: JSON, outputs: Sequence[str]) -> float | None:
    """When the message first showed a whole answer (its versions are every text it has had)."""
    for version in message.get("versions") or []:
        text = str(version.get("rich_markdown") or version.get("text") or "")
        if _complete(text, outputs):
            return float(version["at"])
    return None


def observe(
    asked: Sequence[Asked], messages_by_chat: Mapping[int, Sequence[JSON]], responses: Iterable[JSON]
) -> Observed:
    """Classify every question from the bot's messages in each chat and the emulator's records."""
    by_tag = model_outputs(responses)
    results = {question.tag: QuestionResult(question) for question in asked}
    by_message = {(q.chat_id, q.message_id): results[q.tag] for q in asked}
    unattributed: list[JSON] = []
    removed = stop_buttons = 0
    chats: list[ChatOrder] = []
    for chat_id, messages in messages_by_chat.items():
        order = ChatOrder(chat_id, [])
        for message in sorted(messages, key=lambda m: int(m["message_id"])):
            if message.get("deleted"):
                removed += 1
                continue
            text = _visible_text(message)
            result = by_message.get((chat_id, int(message.get("reply_to_message_id") or 0)))
            tag = TAG.search(text)
            if result is None and tag is not None:
                candidate = results.get(tag.group(0))
                result = candidate if candidate is not None and candidate.asked.chat_id == chat_id else None
            if result is None:
                unattributed.append(
                    {"chat_id": chat_id, "message_id": message["message_id"], "text": text[:200]}
                )
                continue
            if "Stop" in str(message.get("reply_markup")):
                stop_buttons += 1
            result.message_ids.append(int(message["message_id"]))
            order.sequence.append(result.asked.number)
            if text.startswith(APOLOGIES):
                result.apologies += 1
                result.uncertain += text.startswith(UNCERTAIN)
            elif tag is not None and tag.group(0) == result.asked.tag:
                result.answers += 1
                outputs = [
                    str(r["output_text"]) for r in by_tag.get(result.asked.tag, ()) if r["output_text"]
                ]
                done_at = _complete_at(message, outputs)
                if done_at is not None:
                    result.complete_times.append(done_at)
                if done_at is not None and (result.complete_at is None or done_at < result.complete_at):
                    result.complete_at = done_at
            else:
                result.notices += 1
        chats.append(order)
    for result in results.values():
        records = by_tag.get(result.asked.tag, [])
        result.model_requests = len(records)
        if len(records) >= 2:
            result.first_retry_started_at = float(records[1]["started_at"])
        result.outcome = _outcome(result)
    return Observed(list(results.values()), chats, unattributed, removed, stop_buttons)


def _outcome(result: QuestionResult) -> Outcome:
    visible = result.answers + result.apologies + result.notices
    if result.answers == 1 and result.uncertain == 1 and visible == 2 and result.complete_at is not None:
        return "answered_with_notice"
    if result.answers >= 2 or (result.answers and visible > result.answers):
        return "duplicated"
    if result.answers == 1:
        return "answered" if result.complete_at is not None else "partial"
    if result.apologies:
        return "apologised"
    if result.notices:
        return "other_notice"
    return "lost"


# -- summary -------------------------------------------------------------------------------------------


def summarize_outcomes(observed: Observed, killed_at: float) -> JSON:
    """Counts, ordering, recovery and latency figures of one run (times relative to the kill)."""
    questions = observed.questions
    counts = Counter(result.outcome for result in questions)
    resumed = [result for result in questions if result.resumed]
    before = [r for r in questions if r.complete_at is not None and r.complete_at < killed_at]
    in_flight = [
        r
        for r in questions
        if r.asked.asked_at < killed_at and (r.complete_at is None or r.complete_at >= killed_at)
    ]
    after = [r for r in questions if r.asked.asked_at >= killed_at]
    # Answers asked of the model again after the kill: the ones the kill interrupted, resumed.
    retried = [
        r for r in resumed if r.first_retry_started_at is not None and r.first_retry_started_at >= killed_at
    ]
    retry_starts = [r.first_retry_started_at for r in retried if r.first_retry_started_at is not None]
    resumed_done = [
        min((t for t in r.complete_times if t >= r.first_retry_started_at), default=math.inf)
        for r in retried
        if r.first_retry_started_at is not None
    ]
    resumed_done = [t for t in resumed_done if t != math.inf]
    chats_out_of_order = [chat for chat in observed.chats if chat.out_of_order]
    return {
        "questions": len(questions),
        **{outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
        "out_of_order": sum(chat.out_of_order for chat in observed.chats),
        "chats_out_of_order": len(chats_out_of_order),
        "unattributed_messages": len(observed.unattributed),
        "removed_partial_messages": observed.removed_messages,
        "stop_buttons_left": observed.stop_buttons_left,
        "answers_asked_twice_of_the_model": len(resumed),
        "recovery_s": {
            "first_resumed_model_request": _after(retry_starts, killed_at),
            "first_resumed_answer_complete": _after(resumed_done, killed_at),
            "longest_pause_in_completed_answers": _longest_pause(questions, killed_at),
        },
        "latency_ms": {
            "before_the_kill": _latencies(before),
            "in_flight_at_the_kill": _latencies(in_flight),
            "asked_after_the_kill": _latencies(after),
        },
    }


def _after(times: Sequence[float], origin: float) -> float | None:
    return round(min(times) - origin, 2) if times else None


def _longest_pause(questions: Sequence[QuestionResult], killed_at: float) -> float | None:
    """The longest stretch, from the kill on, in which no answer became complete (up to the last one)."""
    times = sorted(t for r in questions if (t := r.complete_at) is not None and t >= killed_at)
    if not times:
        return None
    points = [killed_at, *times]
    return round(max(b - a for a, b in itertools.pairwise(points)), 2)


def _latencies(results: Sequence[QuestionResult]) -> dict[str, float | int | None]:
    """Question sent → answer whole in Telegram; an answer that never became whole ranks last."""
    dist = distribution((r.latency_s for r in results), missing_is_never=True)
    return {
        key: (round(value * 1000) if isinstance(value, float) and key != "count" else value)
        for key, value in dist.items()
    }


def problems(observed: Observed, killed_at: float) -> list[JSON]:
    """Every question that was not simply answered, and every chat out of order, for the JSON (times
    relative to the kill)."""
    found: list[JSON] = []
    for result in observed.questions:
        if result.outcome != "answered":
            found.append(
                {
                    "kind": result.outcome,
                    "tag": result.asked.tag,
                    "chat_id": result.asked.chat_id,
                    "question_message_id": result.asked.message_id,
                    "asked_at": round(result.asked.asked_at, 3),
                    "asked_after_kill_s": round(result.asked.asked_at - killed_at, 2),
                    "answers_complete_after_kill_s": [round(t - killed_at, 2) for t in result.complete_times],
                    "model_retry_after_kill_s": (
                        None
                        if result.first_retry_started_at is None
                        else round(result.first_retry_started_at - killed_at, 2)
                    ),
                    "bot_message_ids": result.message_ids,
                    "model_requests": result.model_requests,
                }
            )
    for chat in observed.chats:
        if chat.out_of_order:
            found.append({"kind": "out_of_order", "chat_id": chat.chat_id, "sequence": chat.sequence})
    found.extend({"kind": "unattributed", **message} for message in observed.unattributed)
    return found
