"""`python -m bench.replicas [--quick]`: two webhook replicas behind a round-robin balancer under load,
one of them killed (SIGKILL) midway; are all questions answered exactly once, in order, without 429s?

Processes: the Telegram fake and the Yandex emulator (one each, for the whole command), two replicas
(`python -m bot` in webhook mode, sharing one Redis database), each its own process; the balancer
(`tests.support.balancer.Balancer`) runs in this driver process, which also plays the users. Per run
(variant): reset the fakes, flush Redis, create the chats, start the balancer and both replicas, warm
both up, let every chat ask its questions a few seconds apart, SIGKILL replica `a` midway (and, in the
`kill-restart` variant, start it again a few seconds later), wait until every question has an answer
or an apology (or the settle timeout passes), wait a little longer for anything late, then read what
the fakes recorded. Counts are defined in `bench/replica_outcomes.py` and `bench/README.md`.

Writes `bench/results/replicas.json` and a section of `bench/results/README.md` (full run), or
`bench/results/quick/replicas.json` (`--quick`, git-ignored). Redis database 14 is flushed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bench.fakes import JSON, Fakes, bounded_gather, start_fakes
from bench.processes import ROOT, Child, ChildError, spawn
from bench.replica_outcomes import TAG, Asked, observe, problems, summarize_outcomes
from bench.replica_report import markdown_section, write_section
from bench.scenarios import MODEL_STREAM
from tests.support.balancer import Balancer
from tests.support.net import free_port
from tests.support.replicas import replica_env

RESULTS = ROOT / "bench" / "results"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
FOLDER_ID = "b1gbenchfolder"
API_KEY = "bench-api-key"
SECRET = "bench-replica-secret"
CONTROL_CONCURRENCY = 32
PRIVATE_USER_BASE = 700_000_000
GROUP_USER_BASE = 710_000_000
WARM_UP_USER_BASE = 699_999_000
REPLICAS = ("a", "b")
KILLED = "a"
STARTUP_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 2.0


@dataclass(frozen=True, slots=True)
class Load:
    """Who asks what, and when (seconds from the first question)."""

    private_chats: int
    groups: int
    questions_per_chat: int
    spread_s: float
    """Each chat's first question is sent at a random moment in [0, spread_s)."""
    gap_s: float
    """Between one chat's questions (±25 % jitter)."""
    answer_chars: int
    kill_at_s: float
    settle_timeout_s: float
    """After the last question: longest wait for every question to be answered or apologised for."""
    members_per_group: int = 2

    @property
    def chats(self) -> int:
        return self.private_chats + self.groups

    @property
    def questions(self) -> int:
        return self.chats * self.questions_per_chat


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    restart_after_s: float | None
    """Start the killed replica again this long after the kill (None: it stays dead)."""


FULL_LOAD = Load(
    private_chats=200,
    groups=20,
    questions_per_chat=3,
    spread_s=12.0,
    gap_s=12.0,
    answer_chars=300,
    kill_at_s=18.0,
    settle_timeout_s=100.0,
)
QUICK_LOAD = Load(
    private_chats=16,
    groups=2,
    questions_per_chat=2,
    spread_s=2.0,
    gap_s=3.0,
    answer_chars=200,
    kill_at_s=3.0,
    settle_timeout_s=40.0,
)
KILL_RESTART = Variant("kill-restart", restart_after_s=3.0)
KILL_ONLY = Variant("kill-only", restart_after_s=None)


# -- replicas ------------------------------------------------------------------------------------------


@dataclass
class Replica:
    """One webhook replica: `python -m bot` with a minimal environment (like every bench child), started
    again under a new log name after a kill."""

    name: str
    port: int
    env: dict[str, str]
    workdir: Path
    runs: list[Child] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def current(self) -> Child:
        return self.runs[-1]

    async def start(self, label: str) -> None:
        child = await spawn(
            f"{label}-replica-{self.name}-{len(self.runs) + 1}", "bot", [], workdir=self.workdir, env=self.env
        )
        self.runs.append(child)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                child.check_alive()
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"{self.base_url}/healthz") as reply:
                        if reply.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise ChildError(f"{child.name} not healthy within {STARTUP_TIMEOUT_S:.0f} s:\n{child.log_tail()}")

    def _record_cpu(self) -> None:
        with contextlib.suppress(OSError):
            self.cpu_seconds.append(round(self.current.usage().cpu_seconds, 2))

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs; its lane locks expire after LANE_LOCK_SECONDS."""
        self._record_cpu()
        self.current.send_signal(9)
        self.exit_codes.append(await self.current.process.wait())

    async def stop(self) -> None:
        if self.runs and self.current.alive:
            self._record_cpu()
            self.exit_codes.append(await self.current.stop(30))


# -- one run -------------------------------------------------------------------------------------------


@dataclass
class Chat:
    index: int
    chat_id: int
    askers: list[int]
    prefix: str


@dataclass
class RunLog:
    """Moments of the run (unix time)."""

    first_question: float = 0.0
    last_question: float = 0.0
    killed: float = 0.0
    restart_began: float | None = None
    restarted: float | None = None
    settled: float = 0.0
    settle_outcome: str = ""


async def run_variant(
    session: aiohttp.ClientSession,
    fakes: Fakes,
    load: Load,
    variant: Variant,
    *,
    redis_url: str,
    workdir: Path,
    lane_lock_s: float,
    bot_path: Path | None = None,
) -> JSON:
    started = time.monotonic()
    # The replicas import `bot` from the working tree, or from an exported commit (`--bot-commit`).
    python_path = {"PYTHONPATH": f"{bot_path}{os.pathsep}{ROOT}"} if bot_path else {}
    loadavg_before = os.getloadavg()
    await asyncio.gather(fakes.telegram.reset(), fakes.emulator.reset(), flush(redis_url))
    username = str((await fakes.telegram.config())["bot_username"])
    chats, warm_chats = await populate(fakes, load, username)
    fakes_cpu_before = {child.name: child.usage().cpu_seconds for child in fakes.children}
    ports = {name: free_port() for name in REPLICAS}
    balancer = Balancer([f"http://127.0.0.1:{port}" for port in ports.values()])
    marks = RunLog()
    update_ids: dict[tuple[int, int], int] = {}
    async with balancer.running():
        replicas = {
            name: Replica(
                name,
                port,
                replica_env(
                    telegram_url=fakes.telegram_url,
                    token=fakes.token,
                    redis_url=redis_url,
                    yandex_url=fakes.emulator_url,
                    folder_id=FOLDER_ID,
                    api_key=API_KEY,
                    public_url=f"{balancer.base_url}/telegram/hook",
                    port=port,
                    secret=SECRET,
                    reply_format="classic",
                    lane_lock_seconds=f"{lane_lock_s:g}",
                    log_format="json",
                )
                | python_path,
                workdir,
            )
            for name, port in ports.items()
        }
        try:
            await asyncio.gather(*(replica.start(variant.name) for replica in replicas.values()))
            await warm_up(fakes, warm_chats)
            await fakes.emulator.reset()  # forget the warm-up's model records
            print(f"  {variant.name}: replicas up and warm [{time.monotonic() - started:.0f}s]", flush=True)
            asked, marks = await ask_and_kill(
                session, fakes, load, variant, chats, replicas[KILLED], marks, update_ids
            )
            print(
                f"  {variant.name}: {len(asked)} questions sent, replica {KILLED} killed"
                f"{' and restarted' if marks.restarted else ''} [{time.monotonic() - started:.0f}s]",
                flush=True,
            )
            await settle(fakes, load, asked, marks, lane_lock_s, replicas)
            messages, responses = await collect(fakes, chats)
            violations = await fakes.telegram.violations()
            deliveries = await webhook_deliveries(session, fakes)
        finally:
            for replica in replicas.values():
                await replica.stop()
    fakes_cpu = {
        child.name: round(child.usage().cpu_seconds - fakes_cpu_before[child.name], 1)
        for child in fakes.children
    }
    observed = observe(asked, messages, responses)
    summary = summarize_outcomes(observed, marks.killed)
    return {
        "variant": variant.name,
        "restart_after_s": variant.restart_after_s,
        **summary,
        "telegram_429": len(violations),
        "telegram_429_by_kind": dict(Counter(str(v.get("kind")) for v in violations)),
        "balancer_statuses": {str(status): count for status, count in sorted(balancer.statuses.items())},
        "balancer_502": balancer.statuses.get(502, 0),
        "webhook_delivery_failures": _delivery_failures(deliveries),
        "timeline_s": _timeline(marks),
        "settle_outcome": marks.settle_outcome,
        "replicas": {name: _replica_report(replica, marks) for name, replica in replicas.items()},
        "load": {
            "loadavg_before": [round(value, 2) for value in loadavg_before],
            "loadavg_after": [round(value, 2) for value in os.getloadavg()],
            "fakes_cpu_seconds": fakes_cpu,
        },
        "wall_seconds": round(time.monotonic() - started, 1),
        "problems": _with_log_lines(problems(observed, marks.killed), replicas, update_ids),
    }


async def flush(redis_url: str) -> None:
    client: aioredis.Redis = aioredis.Redis.from_url(redis_url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


async def populate(fakes: Fakes, load: Load, username: str) -> tuple[list[Chat], list[Chat]]:
    """The load's private chats and groups (groups created without members, so no greeting), plus two
    private warm-up chats."""
    telegram = fakes.telegram

    async def private(spec: tuple[int, int]) -> Chat:
        index, user_id = spec
        await telegram.create_user(user_id, f"User {index}")
        await telegram.create_private_chat(user_id)
        return Chat(index, user_id, [user_id], "")

    async def group(index: int) -> Chat:
        chat_id = await telegram.create_group(f"Replica group {index}")
        base = GROUP_USER_BASE + index * 10
        members = [base + member for member in range(load.members_per_group)]
        for user_id in members:
            await telegram.create_user(user_id, f"Member {index}.{user_id - base}")
            await telegram.add_member(chat_id, user_id)
        return Chat(index, chat_id, members, f"@{username} ")

    privates = await bounded_gather(
        [(index, PRIVATE_USER_BASE + index) for index in range(load.private_chats)],
        private,
        concurrency=CONTROL_CONCURRENCY,
    )
    groups = await bounded_gather(
        range(load.private_chats, load.chats), group, concurrency=CONTROL_CONCURRENCY
    )
    warm = await bounded_gather(
        [(index, WARM_UP_USER_BASE + index) for index in range(len(REPLICAS))], private, concurrency=2
    )
    return [*privates, *groups], list(warm)


def question_text(chat: Chat, number: int, chars: int) -> str:
    return f"{chat.prefix}c{chat.index} q{number} emu:echo emu:long={chars}"


async def warm_up(fakes: Fakes, chats: Sequence[Chat]) -> None:
    """One question per replica (the balancer alternates), answered before the load starts."""
    for chat in chats:
        await fakes.telegram.send_message(
            chat.chat_id, chat.askers[0], f"w{chat.index} emu:echo emu:long=100"
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        messages = await bounded_gather(
            chats, lambda c: fakes.telegram.bot_messages(c.chat_id), concurrency=4
        )
        if all(any(not m["deleted"] for m in chat_messages) for chat_messages in messages):
            return
        await asyncio.sleep(0.5)
    raise ChildError("the warm-up questions were not answered within 60 s")


async def watch_updates(
    session: aiohttp.ClientSession,
    fakes: Fakes,
    work: Coroutine[Any, Any, None],
    update_ids: dict[tuple[int, int], int],
) -> None:
    """While `work` runs (and 3 s more), note which update carries which user message: the fake's
    pending updates, read every 0.2 s (an update stays pending until a replica accepted it), so that a
    problem can be traced in the replicas' logs (their lines carry `update_id`)."""
    task = asyncio.create_task(work)
    finish_at: float | None = None
    while finish_at is None or time.monotonic() < finish_at:
        if finish_at is None and task.done():
            finish_at = time.monotonic() + 3.0
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
            async with session.get(f"{fakes.telegram_url}/__control/updates") as reply:
                for update in await reply.json():
                    message = update.get("message") or {}
                    if message:
                        update_ids[(int(message["chat"]["id"]), int(message["message_id"]))] = int(
                            update["update_id"]
                        )
        await asyncio.sleep(0.2)
    await task


async def ask_and_kill(
    session: aiohttp.ClientSession,
    fakes: Fakes,
    load: Load,
    variant: Variant,
    chats: Sequence[Chat],
    victim: Replica,
    marks: RunLog,
    update_ids: dict[tuple[int, int], int],
) -> tuple[list[Asked], RunLog]:
    """Every chat asks its questions on its own schedule; meanwhile the victim is killed (and restarted)."""
    rng = random.Random(7)
    schedule = {
        chat.index: [rng.uniform(0, load.spread_s)] for chat in chats
    }  # first question; the rest follow with jitter
    for times in schedule.values():
        for _ in range(load.questions_per_chat - 1):
            times.append(times[-1] + load.gap_s * rng.uniform(0.75, 1.25))
    limit = asyncio.Semaphore(CONTROL_CONCURRENCY)
    origin = time.time() + 0.2
    asked: list[Asked] = []

    async def chat_questions(chat: Chat) -> None:
        for number, at in enumerate(schedule[chat.index], start=1):
            await asyncio.sleep(max(0.0, origin + at - time.time()))
            user_id = chat.askers[(number - 1) % len(chat.askers)]
            async with limit:
                sent_at = time.time()
                message = await fakes.telegram.send_message(
                    chat.chat_id, user_id, question_text(chat, number, load.answer_chars)
                )
            asked.append(
                Asked(
                    f"c{chat.index} q{number}",
                    chat.chat_id,
                    chat.index,
                    number,
                    user_id,
                    bool(chat.prefix),
                    int(message["message_id"]),
                    sent_at,
                )
            )

    async def killer() -> None:
        await asyncio.sleep(max(0.0, origin + load.kill_at_s - time.time()))
        marks.killed = time.time()
        await victim.kill()
        if variant.restart_after_s is not None:
            await asyncio.sleep(variant.restart_after_s)
            marks.restart_began = time.time()
            await victim.start(variant.name)
            marks.restarted = time.time()

    async def asking() -> None:
        await asyncio.gather(*(chat_questions(chat) for chat in chats))

    await asyncio.gather(killer(), watch_updates(session, fakes, asking(), update_ids))
    marks.first_question = min(question.asked_at for question in asked)
    marks.last_question = max(question.asked_at for question in asked)
    asked.sort(key=lambda question: (question.chat_index, question.number))
    return asked, marks


async def settle(
    fakes: Fakes,
    load: Load,
    asked: Sequence[Asked],
    marks: RunLog,
    lane_lock_s: float,
    replicas: dict[str, Replica],
) -> None:
    """Wait until every question shows an answer or a notice (or the settle timeout passes), then a
    lane lock's lifetime more: a late second answer from a resumed job would come within it."""
    chat_ids = sorted({question.chat_id for question in asked})
    expected = Counter(question.chat_id for question in asked)
    deadline = marks.last_question + load.settle_timeout_s
    pending = set(chat_ids)
    marks.settle_outcome = "timeout"
    while time.time() < deadline:
        for replica in replicas.values():
            if replica.runs and replica.exit_codes[-1:] != [-9] and not replica.current.alive:
                raise ChildError(f"{replica.current.name} died:\n{replica.current.log_tail()}")
        answered = await _answered_tags(fakes, sorted(pending))
        pending = {chat_id for chat_id in pending if answered.get(chat_id, 0) < expected[chat_id]}
        if not pending:
            marks.settle_outcome = "done"
            break
        await asyncio.sleep(POLL_INTERVAL_S)
    await asyncio.sleep(lane_lock_s + 3.0)
    marks.settled = time.time()


async def _answered_tags(fakes: Fakes, chat_ids: Sequence[int]) -> dict[int, int]:
    """Per chat: how many of its questions have a visible, finished bot message (no Stop button)."""

    async def count(chat_id: int) -> tuple[int, int]:
        messages = await fakes.telegram.bot_messages(chat_id)
        seen: set[int] = set()
        for message in messages:
            if message["deleted"] or "Stop" in str(message.get("reply_markup")):
                continue
            match = TAG.search(str(message.get("text") or ""))
            seen.add(int(match.group(2)) if match else -int(message.get("reply_to_message_id") or 0))
        return chat_id, len(seen)

    return dict(await bounded_gather(chat_ids, count, concurrency=CONTROL_CONCURRENCY))


async def collect(fakes: Fakes, chats: Sequence[Chat]) -> tuple[dict[int, list[JSON]], list[JSON]]:
    messages = await bounded_gather(
        chats, lambda chat: fakes.telegram.bot_messages(chat.chat_id), concurrency=CONTROL_CONCURRENCY
    )
    responses = await fakes.emulator.responses(limit=1000)
    return {chat.chat_id: list(found) for chat, found in zip(chats, messages, strict=True)}, responses


async def webhook_deliveries(session: aiohttp.ClientSession, fakes: Fakes) -> list[JSON]:
    """Every webhook delivery attempt of the Telegram fake: `{update_id, attempt, error, at}`."""
    async with session.get(f"{fakes.telegram_url}/__control/webhook_deliveries") as reply:
        reply.raise_for_status()
        found: list[JSON] = await reply.json()
        return found


def _delivery_failures(deliveries: Sequence[JSON]) -> JSON:
    failures = Counter(_short_error(str(d["error"])) for d in deliveries if d.get("error"))
    return {"attempts": len(deliveries), "failed": sum(failures.values()), "by_error": dict(failures)}


def _short_error(error: str) -> str:
    return re.sub(r"\d{4,}", "N", error)[:80]


def _timeline(marks: RunLog) -> JSON:
    origin = marks.first_question

    def rel(moment: float | None) -> float | None:
        return None if moment is None else round(moment - origin, 2)

    return {
        "last_question": rel(marks.last_question),
        "killed": rel(marks.killed),
        "restart_began": rel(marks.restart_began),
        "restarted_healthy": rel(marks.restarted),
        "settled": rel(marks.settled),
    }


# -- replica logs --------------------------------------------------------------------------------------

_RESUMING = "resuming an answer interrupted by a restart"
_INTERESTING = (
    _RESUMING,
    "answer interrupted",
    "an interrupted run had already delivered this answer",
    "could not remove an interrupted answer's message",
    "resuming lane",
    "lost the lock of lane",
    "lane heartbeat came",
    "duplicate delivery ignored",
)


def _log_entries(child: Child) -> tuple[list[JSON], int]:
    entries: list[JSON] = []
    other = 0
    for line in child.log_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            other += 1
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries, other


def _timestamp(entry: JSON) -> float | None:
    try:
        return datetime.datetime.fromisoformat(str(entry["ts"])).timestamp()  # "...T12:00:00.123Z"
    except (KeyError, ValueError):
        return None


def _replica_report(replica: Replica, marks: RunLog) -> JSON:
    runs: list[JSON] = []
    for child in replica.runs:
        entries, other_lines = _log_entries(child)
        levels = Counter(str(entry.get("level")) for entry in entries)
        warnings = Counter(
            str(entry.get("msg"))[:120]
            for entry in entries
            if entry.get("level") in ("WARNING", "ERROR", "CRITICAL")
        )
        resumes = [
            t for entry in entries if entry.get("msg") == _RESUMING and (t := _timestamp(entry)) is not None
        ]
        runs.append(
            {
                "log": child.log_path.name,
                "levels": dict(levels),
                "non_json_lines": other_lines,
                "warnings_and_errors": dict(warnings.most_common(12)),
                "events": {
                    text: sum(1 for e in entries if str(e.get("msg", "")).startswith(text))
                    for text in _INTERESTING
                },
                "first_resume_after_kill_s": round(min(resumes) - marks.killed, 2) if resumes else None,
            }
        )
    return {"exit_codes": replica.exit_codes, "cpu_seconds": replica.cpu_seconds, "runs": runs}


def _with_log_lines(
    found: list[JSON], replicas: dict[str, Replica], update_ids: dict[tuple[int, int], int], limit: int = 30
) -> list[JSON]:
    """Add to each problem its question's update id and the replica log lines that mention its chat or
    carry that update id, for a bug report."""
    if not found:
        return found
    logs = [
        (child.name, child.log_text().splitlines()) for replica in replicas.values() for child in replica.runs
    ]
    for problem in found[:50]:
        needles = [str(problem["chat_id"])]
        update_id = update_ids.get((problem["chat_id"], problem.get("question_message_id", 0)))
        if update_id is not None:
            problem["update_id"] = update_id
            needles += [f'"update_id": "{update_id}"', f"Update id={update_id} "]
        problem["log_lines"] = [
            f"{name}: {line[:300]}"
            for name, lines in logs
            for line in lines
            if any(needle in line for needle in needles)
        ][:limit]
    return found


# -- the command ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: 18 chats, kill-restart only")
    parser.add_argument("--out", type=Path, help="results directory (default bench/results[/quick])")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a Redis database the run may flush")
    parser.add_argument(
        "--variants",
        nargs="*",
        choices=[KILL_RESTART.name, KILL_ONLY.name],
        help="default: both (full), kill-restart (quick)",
    )
    parser.add_argument(
        "--bot-commit",
        metavar="REV",
        help="run the replicas on the bot package of this commit (git archive), not the working tree",
    )
    parser.add_argument(
        "--lane-lock-seconds",
        type=float,
        default=5.0,
        help="LANE_LOCK_SECONDS of the replicas (the bot's default is 15)",
    )
    return parser.parse_args(argv)


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def export_bot(commit: str, workdir: Path) -> Path:
    """`git archive <commit> bot` unpacked into the scratch directory: the replicas' `bot` package."""
    target = workdir / f"bot-{commit}"
    target.mkdir()
    archive = subprocess.run(
        ["git", "archive", commit, "bot"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def environment(load: Load, lane_lock_s: float, bot_commit: str | None) -> JSON:
    if bot_commit:
        bot_source: JSON = {"commit": _git("rev-parse", "--short", bot_commit), "via": "git archive"}
    else:
        changed = [line[3:] for line in _git("status", "--porcelain", "--", "bot").splitlines()]
        bot_source = {"working_tree": True, "uncommitted_bot_files": changed}
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _git("rev-parse", "--short", "HEAD") or "unknown",
        "bot_source": bot_source,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_at_start": [round(value, 2) for value in os.getloadavg()],
        "first_delta_delay_s": MODEL_STREAM.first_delta_delay_s,
        "chars_per_second": MODEL_STREAM.chars_per_second,
        "load": {
            "private_chats": load.private_chats,
            "groups": load.groups,
            "members_per_group": load.members_per_group,
            "questions_per_chat": load.questions_per_chat,
            "questions": load.questions,
            "spread_s": load.spread_s,
            "gap_s": load.gap_s,
            "answer_chars": load.answer_chars,
            "kill_at_s": load.kill_at_s,
            "settle_timeout_s": load.settle_timeout_s,
        },
        "replica_settings": {
            "BOT_MODE": "webhook",
            "REPLY_FORMAT": "classic",
            "LANE_LOCK_SECONDS": lane_lock_s,
            "LOG_FORMAT": "json",
            "others": "defaults",
        },
    }


async def run(
    args: argparse.Namespace, load: Load, variants: Sequence[Variant], workdir: Path, bot_path: Path | None
) -> list[JSON]:
    results: list[JSON] = []
    async with aiohttp.ClientSession() as session:
        fakes = await start_fakes(session, workdir, MODEL_STREAM)
        try:
            for variant in variants:
                try:
                    result = await run_variant(
                        session,
                        fakes,
                        load,
                        variant,
                        redis_url=args.redis_url,
                        workdir=workdir,
                        lane_lock_s=args.lane_lock_seconds,
                        bot_path=bot_path,
                    )
                except ChildError as error:
                    print(f"  {variant.name}: FAILED: {error}", flush=True)
                    results.append({"variant": variant.name, "failed": str(error).splitlines()[0]})
                    continue
                print(progress_line(result), flush=True)
                results.append(result)
        finally:
            await fakes.stop()
    return results


def progress_line(result: JSON) -> str:
    latency = result["latency_ms"]
    return (
        f"  {result['variant']}: answered {result['answered']}/{result['questions']}"
        f"  duplicated {result['duplicated']}  lost {result['lost']}  apologised {result['apologised']}"
        f"  partial {result['partial']}  out-of-order {result['out_of_order']}"
        f"  429s {result['telegram_429']}  502s {result['balancer_502']}"
        f"  recovery {result['recovery_s']['first_resumed_answer_complete']} s"
        f"  p50 before/after {latency['before_the_kill']['p50']}/{latency['asked_after_the_kill']['p50']} ms"
        f"  [{result['wall_seconds']}s]"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load = QUICK_LOAD if args.quick else FULL_LOAD
    names = args.variants or ([KILL_RESTART.name] if args.quick else [KILL_RESTART.name, KILL_ONLY.name])
    variants = [variant for variant in (KILL_RESTART, KILL_ONLY) if variant.name in names]
    out: Path = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    env = environment(load, args.lane_lock_seconds, args.bot_commit)
    bot_path = export_bot(args.bot_commit, workdir) if args.bot_commit else None
    started = time.monotonic()
    print(f"logs in {workdir}", flush=True)
    results = asyncio.run(run(args, load, variants, workdir, bot_path))
    command = "python -m bench.replicas" + (" --quick" if args.quick else "")
    payload = {"command": command, "environment": env, "runs": results}
    (out / "replicas.json").write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    write_section(out / "README.md", markdown_section(payload))
    print(f"wrote {out}/replicas.json and README.md in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
