"""`python -m bench.run [--quick]`: the whole benchmark in one command (see bench/README.md).

Starts the Telegram fake and the Yandex emulator in their own processes, then for every scenario runs
each bot under test (this bot, then the baselines) as a child process against them, one at a time,
and writes `<out>/<scenario>.json` and `<out>/README.md`. The full run takes about 20 minutes on two
cores (hard budget: `--budget`, default 1500 s; phases that would not fit are skipped and said so);
`--quick` is a smoke run of a minute or less, written to `bench/results/quick/` by default.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bench.fakes import start_fakes
from bench.phase import run_phase
from bench.processes import ROOT, ChildError
from bench.replica_report import existing_section, write_section
from bench.report import Summary, failed_summary, markdown, summarize, write_scenario
from bench.scenarios import BOTS, FULL, MODEL_STREAM, QUICK, Scenario

RESULTS = ROOT / "bench" / "results"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
PHASE_OVERHEAD_S = 25.0
"""Start-up, warm-up and collection time of a phase beyond its scenario timeout (for the budget)."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: small scenarios, about a minute")
    parser.add_argument("--out", type=Path, help="results directory (default bench/results[/quick])")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a Redis database the run may flush")
    parser.add_argument("--only", nargs="*", metavar="SCENARIO", help="run only these scenarios")
    parser.add_argument("--bots", nargs="*", metavar="BOT", help="run only these bots (ours, naive, edit100)")
    parser.add_argument("--budget", type=float, default=1500.0, metavar="S", help="wall-clock budget")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="experiment: gc.freeze() in this bot after its warm-up (results are labelled)",
    )
    parser.add_argument(
        "--gc-threshold",
        type=int,
        metavar="N",
        help="experiment: gc.set_threshold(N, …) in this bot after its warm-up (results are labelled)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run this bot under cProfile (slower; stats in the logs directory)",
    )
    return parser.parse_args(argv)


def environment(scenarios: Sequence[Scenario]) -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "first_delta_delay_s": MODEL_STREAM.first_delta_delay_s,
        "chars_per_second": MODEL_STREAM.chars_per_second,
        "answer_chars": scenarios[0].answer_chars if scenarios else None,
    }


async def run(
    args: argparse.Namespace, scenarios: Sequence[Scenario], out: Path, workdir: Path, env: dict[str, Any]
) -> list[tuple[Scenario, list[Summary]]]:
    """Every phase in order; each scenario's JSON is written as soon as it is done."""
    bots = [bot for bot in BOTS if not args.bots or bot.key in args.bots]
    started = time.monotonic()
    done: list[tuple[Scenario, list[Summary]]] = []
    async with aiohttp.ClientSession() as session:
        fakes = await start_fakes(session, workdir, MODEL_STREAM)
        try:
            for scenario in scenarios:
                summaries: list[Summary] = []
                for bot in bots:
                    if scenario.bots and bot.key not in scenario.bots:
                        continue
                    elapsed = time.monotonic() - started
                    if elapsed + scenario.timeout_s + PHASE_OVERHEAD_S > args.budget:
                        summaries.append(failed_summary(bot, scenario, "skipped: over the time budget"))
                        continue
                    try:
                        result = await run_phase(
                            fakes,
                            scenario,
                            bot,
                            redis_url=args.redis_url,
                            workdir=workdir,
                            profile=args.profile,
                            gc_freeze=args.gc_freeze,
                            gc_threshold=args.gc_threshold,
                        )
                    except ChildError as error:
                        reason = _failure(scenario, bot.key, error)
                        summaries.append(failed_summary(bot, scenario, reason))
                        print(f"{scenario.name:>13} {bot.key:<8} FAILED: {reason}", flush=True)
                        continue
                    summary = summarize(result)
                    summaries.append(summary)
                    print(_progress(scenario, summary, time.monotonic() - started), flush=True)
                write_scenario(out, scenario, summaries, env)
                done.append((scenario, summaries))
        finally:
            await fakes.stop()
    return done


def _failure(scenario: Scenario, bot: str, error: ChildError) -> str:
    text = str(error)
    if scenario.kind == "groups" and bot == "ours" and "warm-up" in text:
        return "not supported yet (no answer in a group)"
    return text.splitlines()[0]


def _progress(scenario: Scenario, summary: Summary, elapsed: float) -> str:
    overhead = summary["overhead_ms"]
    behind = summary["first_visible_minus_ideal_ms"]
    final = summary["final_delay_ms"]
    return (
        f"{scenario.name:>13} {summary['bot']:<8} delivered {summary['delivered']}/{summary['questions']}"
        f"  overhead p50 {_num(overhead['p50'])} p95 {_num(overhead['p95'])} ms"
        f"  −ideal p50 {_num(behind['p50'])} p95 {_num(behind['p95'])} ms"
        f"  final p50 {_num(final['p50'])} ms  429s {summary['http_429']}"
        f"  cpu {summary['cpu_seconds_measured']:.1f}s ({summary['cpu_ms_per_answer']:.1f} ms/answer)"
        f"  rss {summary['peak_rss_mb']:.0f}MB"
        f"  loop lag {_lag(summary.get('event_loop_lag'))}"
        f"  late turns {summary.get('telegram_late_turns')}"
        f"  [{elapsed:.0f}s]"
    )


def _lag(lag: dict[str, float] | None) -> str:
    if not lag:
        return "—"
    return f"p50 {lag['p50_ms']:.0f} p95 {lag['p95_ms']:.0f} max {lag['max_ms']:.0f} ms"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = [s for s in (QUICK if args.quick else FULL) if not args.only or s.name in args.only]
    out: Path = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    env = environment(scenarios)
    started = time.monotonic()
    print(f"logs in {workdir}", flush=True)
    done = asyncio.run(run(args, scenarios, out, workdir, env))
    command = "python -m bench.run" + (" --quick" if args.quick else "")
    readme = out / "README.md"
    replicas = existing_section(readme)  # `python -m bench.replicas` keeps its own section on this page
    readme.write_text(markdown(done, env, command))
    if replicas is not None:
        write_section(readme, replicas)
    print(f"wrote {out}/README.md in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
