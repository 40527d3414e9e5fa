"""One phase of a run: one bot under test, one scenario, fresh fakes and Redis.

1. Reset both fakes, flush the benchmark's Redis database, create the users and chats (before the bot
   starts, so setting up costs the bot nothing).
2. Start the bot as a child process and warm it up: one answer in a chat of its own, asked at once
   (targets are "measured warm, after a process's first answer"); then forget the emulator's records.
3. Snapshot the bot's CPU time (and Redis round trips), send every question at about the same time,
   wait until the model has finished every answer and Telegram shows each one whole (bounded by the
   scenario's timeout), snapshot again.
4. Read what the fakes recorded, measure each answer (`bench.metrics`), stop the bot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import socket
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import redis.asyncio as aioredis

from bench.fakes import JSON, Fakes, TelegramControl, bounded_gather
from bench.metrics import AnswerMetrics, Frame, ModelRecord, measure, shown_chars
from bench.processes import Child, ChildError, Usage, spawn
from bench.scenarios import WARM_UP_CHARS, BotUnderTest, Scenario

log = logging.getLogger(__name__)

FOLDER_ID = "b1gbenchfolder"
API_KEY = "bench-api-key"
CONTROL_CONCURRENCY = 32
POLL_INTERVAL_S = 1.0
STARTUP_TIMEOUT_S = 30.0
WARM_UP_TIMEOUT_S = 30.0
DRAFT_METHODS = frozenset({"sendMessageDraft", "sendRichMessageDraft"})
MESSAGE_METHODS = frozenset(
    {"sendMessage", "sendRichMessage", "editMessageText", "editMessageReplyMarkup", "sendDocument"}
)
FINAL_METHODS = ("sendMessage", "sendRichMessage", "editMessageText")
SERVICE_METHODS = frozenset(
    {"getMe", "getUpdates", "setMyCommands", "deleteWebhook", "getWebhookInfo", "deleteMyCommands"}
)
STALL_S = 8.0
"""The model is done and the bot has not tried to send or edit anything for this long: it gave up."""
PRIVATE_USER_BASE = 500_000_000
GROUP_USER_BASE = 600_000_000
WARM_UP_USER = 499_999_999


Outcome = Literal["done", "stalled", "timeout"]


@dataclass(frozen=True, slots=True)
class Question:
    tag: str
    chat_id: int
    user_id: int
    text: str
    is_group: bool
    message_id: int = 0
    asked_at: float = 0.0


@dataclass
class PhaseResult:
    scenario: Scenario
    bot: BotUnderTest
    answers: list[AnswerMetrics] = field(default_factory=list)
    calls_by_method: dict[str, int] = field(default_factory=dict)
    violations_by_kind: dict[str, int] = field(default_factory=dict)
    violations_in_penalty: int = 0
    measured_cpu_s: float = 0.0
    fakes_cpu_s: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    peak_rss_bytes: int = 0
    redis_round_trips: dict[str, int] | None = None
    redis_by_command: dict[str, int] | None = None
    gc_pauses: dict[str, dict[str, float]] | None = None
    loop_lag: dict[str, float] | None = None
    late_turns: int | None = None
    """Output-scheduler turns not used because the call would have left late (this bot only)."""
    outcome: Outcome = "done"
    notes: list[str] = field(default_factory=list)


# -- the phase -----------------------------------------------------------------------------------------


async def run_phase(
    fakes: Fakes,
    scenario: Scenario,
    bot: BotUnderTest,
    *,
    redis_url: str,
    workdir: Path,
    profile: bool = False,
    gc_freeze: bool = False,
    gc_threshold: int | None = None,
) -> PhaseResult:
    result = PhaseResult(scenario, bot)
    await asyncio.gather(fakes.telegram.reset(), fakes.emulator.reset(), _flush(redis_url))
    username = str((await fakes.telegram.config())["bot_username"])
    warm_up, questions = await _populate(fakes, scenario, username)
    name = f"{scenario.name}-{bot.key}"
    counts_path = workdir / f"{name}-redis.json"
    env = _bot_env(fakes, redis_url, bot, counts_path)
    if profile and bot.counts_redis:
        env["BENCH_PROFILE"] = str(workdir / f"{name}.prof")
        result.notes.append("profiled (cProfile): times are not comparable")
    if gc_threshold is not None and bot.counts_redis:
        env["BENCH_GC_THRESHOLD"] = str(gc_threshold)
        result.notes.append(f"experiment: gc.set_threshold({gc_threshold}, …) after the warm-up")
    if gc_freeze and bot.counts_redis:
        env["BENCH_GC_FREEZE"] = "1"
        result.notes.append("experiment: gc.freeze() after the warm-up")
    child = await spawn(name, bot.module, [], workdir=workdir, env=env)
    try:
        # Asked at once: the update waits in the fake until the bot, still importing, starts polling.
        await _ask_and_wait([warm_up], fakes, child, STARTUP_TIMEOUT_S + WARM_UP_TIMEOUT_S, "warm-up")
        await fakes.emulator.reset()
        before_cpu = child.usage()
        before_fakes = [fake.usage().cpu_seconds for fake in fakes.children]
        before_redis = await _redis_snapshot(child, counts_path) if bot.counts_redis else None
        metrics_url = f"http://127.0.0.1:{env['METRICS_PORT']}/metrics"
        late_before = await _late_turns(metrics_url) if bot.counts_redis else None
        started = time.time()
        asked, result.outcome = await _ask_and_wait(
            questions, fakes, child, scenario.timeout_s, "questions", arrivals=scenario.arrivals_s
        )
        finished = time.time()
        after_cpu = child.usage()
        after_fakes = [fake.usage().cpu_seconds for fake in fakes.children]
        after_redis = await _redis_snapshot(child, counts_path) if bot.counts_redis else None
        late_after = await _late_turns(metrics_url) if bot.counts_redis else None
        if late_before is not None and late_after is not None:
            result.late_turns = late_after - late_before
        result.wall_s = finished - started
        result.measured_cpu_s = after_cpu.cpu_seconds - before_cpu.cpu_seconds
        result.fakes_cpu_s = {
            fake.name: after - before
            for fake, before, after in zip(fakes.children, before_fakes, after_fakes, strict=True)
        }
        if before_redis is not None and after_redis is not None:
            result.redis_round_trips = _difference(before_redis["by_category"], after_redis["by_category"])
            result.redis_by_command = _difference(before_redis["by_command"], after_redis["by_command"])
            result.gc_pauses = after_redis["gc_since_last_snapshot"]
            result.loop_lag = after_redis.get("loop_lag_since_last_snapshot")
        await _collect(fakes, asked, started, finished, result)
        result.peak_rss_bytes = _peak(child.usage(), after_cpu)
    finally:
        status = await child.stop()
    if status not in (0, -signal.SIGTERM):
        result.notes.append(f"bot exited with status {status}")
    if result.outcome == "timeout":
        result.notes.append(f"not every answer arrived within {scenario.timeout_s:.0f} s")
    elif result.outcome == "stalled":
        result.notes.append(f"the bot stopped trying to deliver {_undelivered(result)} answer(s)")
    return result


def _bot_env(fakes: Fakes, redis_url: str, bot: BotUnderTest, counts_path: Path) -> dict[str, str]:
    return {
        "BOT_TOKEN": fakes.token,
        "TELEGRAM_API_URL": fakes.telegram_url,
        "REDIS_URL": redis_url,
        "YC_FOLDER_ID": FOLDER_ID,
        "YC_API_KEY": API_KEY,
        "YC_BASE_URL": fakes.emulator_url,
        # Rich replies, as when the recorded results were measured (the default became classic later).
        "REPLY_FORMAT": "rich",
        # The metrics endpoint stays on, on a free port: the default 8080 may be taken on this machine.
        "METRICS_PORT": str(_free_port()),
        "BENCH_REDIS_COUNTS": str(counts_path),
        **bot.env,
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _flush(redis_url: str) -> None:
    client: aioredis.Redis = aioredis.Redis.from_url(redis_url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def _undelivered(result: PhaseResult) -> int:
    return sum(1 for answer in result.answers if not answer.delivered)


def _peak(*samples: Usage) -> int:
    return max(sample.peak_rss_bytes for sample in samples)


def _difference(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {key: after.get(key, 0) - before.get(key, 0) for key in sorted(set(before) | set(after))}


# -- setting up ----------------------------------------------------------------------------------------


async def _populate(fakes: Fakes, scenario: Scenario, username: str) -> tuple[Question, list[Question]]:
    """Users and chats of the scenario, plus a warm-up chat of the same kind; their questions."""
    telegram = fakes.telegram
    if scenario.kind in ("private", "sustained"):
        await telegram.create_user(WARM_UP_USER, "Warm")
        await telegram.create_private_chat(WARM_UP_USER)
        warm_up = Question("w0000", WARM_UP_USER, WARM_UP_USER, _text("w0000", WARM_UP_CHARS), False)
        users = [PRIVATE_USER_BASE + index for index in range(scenario.chats)]

        async def private_chat(user_id: int) -> None:
            await telegram.create_user(user_id, f"User {user_id - PRIVATE_USER_BASE}")
            await telegram.create_private_chat(user_id)

        await bounded_gather(users, private_chat, concurrency=CONTROL_CONCURRENCY)
        questions = [
            Question(tag, user_id, user_id, _text(tag, scenario.answer_chars), False)
            for index, user_id in enumerate(users)
            if (tag := f"p{index:04d}")
        ]
        return warm_up, questions

    (warm_chat, (warm_user,)), *groups = await bounded_gather(
        [(-1, 1), *((index, scenario.questions_per_chat) for index in range(scenario.chats))],
        lambda spec: _group_of(telegram, spec),
        concurrency=CONTROL_CONCURRENCY,
    )
    warm_up = Question("w0000", warm_chat, warm_user, f"@{username} " + _text("w0000", WARM_UP_CHARS), True)
    questions = [
        Question(tag, chat_id, user_id, f"@{username} " + _text(tag, scenario.answer_chars), True)
        for index, (chat_id, members) in enumerate(groups)
        for member, user_id in enumerate(members)
        if (tag := f"g{index:03d}m{member}")
    ]
    return warm_up, questions


async def _group_of(telegram: TelegramControl, spec: tuple[int, int]) -> tuple[int, list[int]]:
    """A group (index -1: the warm-up group) with `size` members besides the bot."""
    index, size = spec
    chat_id = await telegram.create_group(f"Busy group {index}")
    base = GROUP_USER_BASE + (index + 1) * 100
    members = [base + member for member in range(size)]
    for user_id in members:
        await telegram.create_user(user_id, f"Member {index + 1}.{user_id - base}")
        await telegram.add_member(chat_id, user_id)
    return chat_id, members


def _text(tag: str, chars: int) -> str:
    return f"{tag} how does streaming work in Telegram? emu:long={chars}"


async def _late_turns(metrics_url: str) -> int | None:
    """`bot_telegram_late_turns_total` from the bot's metrics endpoint (None if it cannot be read)."""
    try:
        async with aiohttp.ClientSession() as session, session.get(metrics_url) as response:
            text = await response.text()
    except aiohttp.ClientError:
        return None
    for line in text.splitlines():
        if line.startswith("bot_telegram_late_turns_total "):
            return round(float(line.split()[1]))
    return None


async def _redis_snapshot(child: Child, path: Path) -> dict[str, Any]:
    """Ask the instrumented bot for its counts (SIGUSR1) and read them once written."""
    previous = _read_counts(path)
    child.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        data = _read_counts(path)
        if data is not None and (previous is None or data["snapshot"] > previous["snapshot"]):
            return data
        await asyncio.sleep(0.02)
    raise ChildError(f"{child.name} did not write its Redis counts")


def _read_counts(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return data


# -- asking and waiting --------------------------------------------------------------------------------


async def _ask_and_wait(
    questions: Sequence[Question],
    fakes: Fakes,
    child: Child,
    timeout: float,
    what: str,
    *,
    arrivals: Sequence[float] = (),
) -> tuple[list[Question], Outcome]:
    """Send the questions at about the same time (or each at its moment of `arrivals`, seconds from
    now); wait until every answer is whole in Telegram. Returns the questions with their message ids
    and send times, and how the wait ended (the timeout counts from the last question)."""

    async def ask(question: Question) -> Question:
        message = await fakes.telegram.send_message(question.chat_id, question.user_id, question.text)
        return Question(
            question.tag,
            question.chat_id,
            question.user_id,
            question.text,
            question.is_group,
            int(message["message_id"]),
            time.time(),
        )

    if arrivals:
        start = time.monotonic()

        async def ask_on_time(question: Question, offset: float) -> Question:
            await asyncio.sleep(max(0.0, start + offset - time.monotonic()))
            return await ask(question)

        asked = list(
            await asyncio.gather(
                *(ask_on_time(q, offset) for q, offset in zip(questions, arrivals, strict=True))
            )
        )
    else:
        asked = list(await bounded_gather(questions, ask, concurrency=64))
    deadline = time.monotonic() + timeout
    outputs = await _wait_for_model(fakes, asked, deadline, child)
    outcome: Outcome = (
        "timeout" if outputs is None else await _wait_for_finals(fakes, asked, outputs, deadline, child)
    )
    if outcome != "done" and what == "warm-up":
        raise ChildError(f"{child.name}: the warm-up answer did not arrive ({outcome}):\n{child.log_tail()}")
    return asked, outcome


async def _wait_for_model(
    fakes: Fakes, asked: Sequence[Question], deadline: float, child: Child
) -> dict[str, str] | None:
    """Output text per tag once the model has finished every answer (None on timeout)."""
    tags = {question.tag for question in asked}
    while time.monotonic() < deadline:
        child.check_alive()
        records = _records_by_tag(await fakes.emulator.responses(limit=len(tags) * 2 + 10), tags)
        if len(records) == len(tags) and all(r["status"] != "in_progress" for r in records.values()):
            return {tag: str(record["output_text"]) for tag, record in records.items()}
        await asyncio.sleep(POLL_INTERVAL_S)
    return None


async def _wait_for_finals(
    fakes: Fakes, asked: Sequence[Question], outputs: dict[str, str], deadline: float, child: Child
) -> Outcome:
    """Wait until every chat shows each of its answers whole in a message (not a draft): "done"; or
    until the bot has stopped trying (no send or edit for STALL_S after the model finished): "stalled".
    """
    pending = {question.tag: question for question in asked}
    model_done_at = time.time()
    while time.monotonic() < deadline:
        child.check_alive()
        calls = [call for method in FINAL_METHODS for call in await fakes.telegram.calls(method)]
        texts_by_chat: dict[int, list[str]] = {}
        for call in calls:
            if call["ok"]:
                texts_by_chat.setdefault(int(call["params"].get("chat_id", 0)), []).append(call_text(call))
        for tag, question in list(pending.items()):
            output = outputs[tag]
            whole = len(output.rstrip())
            if any(shown_chars(text, output) >= whole for text in texts_by_chat.get(question.chat_id, [])):
                del pending[tag]
        if not pending:
            return "done"
        last_attempt = max((float(call["at"]) for call in calls), default=0.0)
        if time.time() - max(last_attempt, model_done_at) > STALL_S:
            return "stalled"
        await asyncio.sleep(POLL_INTERVAL_S)
    return "timeout"


_TAG = re.compile(r"\b([pgw]\d{3}(?:\d|m\d))\b")


def _records_by_tag(records: Iterable[JSON], tags: set[str]) -> dict[str, JSON]:
    """The latest emulator record of each question (retried requests leave earlier ones behind)."""
    found: dict[str, JSON] = {}
    for record in records:
        match = _TAG.search(str(record.get("input_text", "")))
        if match and match[1] in tags:
            found[match[1]] = record
    return found


def call_text(call: JSON) -> str:
    params = call["params"]
    rich = params.get("rich_message")
    if isinstance(rich, dict) and rich.get("markdown"):
        return str(rich["markdown"])
    return str(params.get("text") or "")


# -- reading what happened -----------------------------------------------------------------------------


async def _collect(
    fakes: Fakes, asked: Sequence[Question], started: float, finished: float, result: PhaseResult
) -> None:
    telegram = fakes.telegram
    tags = {question.tag for question in asked}
    records = _records_by_tag(await fakes.emulator.responses(limit=len(tags) * 2 + 10), tags)
    chats = sorted({question.chat_id for question in asked})

    async def frames_of(chat_id: int) -> tuple[int, list[JSON], list[JSON]]:
        drafts, messages = await asyncio.gather(telegram.drafts(chat_id), telegram.bot_messages(chat_id))
        return chat_id, drafts, messages

    per_chat = {
        chat_id: (drafts, messages)
        for chat_id, drafts, messages in await bounded_gather(
            chats, frames_of, concurrency=CONTROL_CONCURRENCY
        )
    }
    for question in asked:
        drafts, messages = per_chat[question.chat_id]
        record = records.get(question.tag)
        frames = _frames(question, drafts, messages)
        result.answers.append(measure(ModelRecord.of(record) if record else None, frames, question.asked_at))

    chat_set = set(chats)
    window_end = finished + 1.0
    calls = [
        call
        for call in await telegram.calls()
        if started <= call["at"] <= window_end
        and call["method"] not in SERVICE_METHODS
        and int(call["params"].get("chat_id") or 0) in chat_set
    ]
    result.calls_by_method = dict(Counter(call["method"] for call in calls))
    violations = [
        v
        for v in await telegram.violations()
        if started <= v["at"] <= window_end and v["chat_id"] in chat_set
    ]
    result.violations_by_kind = dict(Counter(str(v["kind"]) for v in violations))
    result.violations_in_penalty = sum(1 for v in violations if v.get("in_penalty"))


def _frames(question: Question, drafts: list[JSON], messages: list[JSON]) -> list[Frame]:
    """What the asker could see of this answer: drafts (private chats) and every version of the bot's
    messages — in groups only the messages replying to this question."""
    frames = [
        Frame(float(draft["at"]), str(draft.get("rich_markdown") or draft.get("text") or ""), True)
        for draft in drafts
    ]
    for message in messages:
        if question.is_group and message.get("reply_to_message_id") != question.message_id:
            continue
        for version in message["versions"]:
            text = version.get("rich_markdown") or version.get("text") or ""
            frames.append(Frame(float(version["at"]), str(text), False))
    return frames
