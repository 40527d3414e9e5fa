"""Turning phase results into `bench/results/<scenario>.json` and the Markdown tables of
`bench/results/README.md`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.metrics import behind_ideal, distribution
from bench.phase import DRAFT_METHODS, MESSAGE_METHODS, PhaseResult
from bench.scenarios import BotUnderTest, Scenario

Summary = dict[str, Any]
MB = 1024 * 1024
MIN_ANSWERS_FOR_CPU = 100
"""Below this, CPU per answer is mostly idle polling and 10 ms clock ticks: not shown in the table."""


def summarize(result: PhaseResult) -> Summary:
    """One bot in one scenario: every figure the README shows, plus the raw counts behind them."""
    answers = result.answers
    asked = result.scenario.answers
    calls = result.calls_by_method
    drafts = sum(count for method, count in calls.items() if method in DRAFT_METHODS)
    messages = sum(count for method, count in calls.items() if method in MESSAGE_METHODS)
    total_calls = sum(calls.values())
    redis = result.redis_round_trips
    behind = behind_ideal(answers)
    origin = min((a.first_delta_at for a in answers if a.first_delta_at is not None), default=0.0)
    return {
        "bot": result.bot.key,
        "label": result.bot.label,
        "questions": asked,
        "delivered": sum(1 for answer in answers if answer.delivered),
        "outcome": result.outcome,
        "overhead_ms": _ms(distribution((a.overhead_s for a in answers), missing_is_never=True)),
        "first_visible_minus_ideal_ms": _ms(distribution(behind, missing_is_never=True)),
        "first_visible_from_question_ms": _ms(
            distribution((a.from_question_s for a in answers), missing_is_never=True)
        ),
        "display_lag_ms": _ms(distribution(lag for answer in answers for lag in answer.lags_s)),
        "final_delay_ms": _ms(distribution((a.final_delay_s for a in answers), missing_is_never=True)),
        "streaming_frames_per_answer": _per(sum(answer.streaming_frames for answer in answers), asked),
        "telegram_calls_per_answer": {
            "total": _per(total_calls, asked),
            "drafts": _per(drafts, asked),
            "sends_and_edits": _per(messages, asked),
            "other": _per(total_calls - drafts - messages, asked),
        },
        "telegram_calls_by_method": dict(sorted(calls.items())),
        "http_429": sum(result.violations_by_kind.values()),
        "http_429_by_kind": result.violations_by_kind,
        "http_429_inside_penalty_window": result.violations_in_penalty,
        "cpu_seconds_measured": round(result.measured_cpu_s, 3),
        "cpu_seconds_per_1000_answers": round(result.measured_cpu_s / asked * 1000, 2) if asked else None,
        "cpu_ms_per_answer": round(result.measured_cpu_s / asked * 1000, 2) if asked else None,
        "peak_rss_mb": round(result.peak_rss_bytes / MB, 1),
        "fakes_cpu_seconds_measured": {name: round(cpu, 2) for name, cpu in result.fakes_cpu_s.items()},
        "redis_round_trips_per_answer": _per(redis["answers"], asked) if redis else None,
        "redis_round_trips": redis,
        "redis_by_command": result.redis_by_command,
        "gc_pauses": result.gc_pauses,
        "event_loop_lag": result.loop_lag,
        "telegram_late_turns": result.late_turns,
        "wall_seconds": round(result.wall_s, 2),
        "notes": result.notes,
        "answers": [
            {
                "delivered": answer.delivered,
                "overhead_ms": _round_ms(answer.overhead_s),
                "behind_ideal_ms": _round_ms(late),
                "from_question_ms": _round_ms(answer.from_question_s),
                "final_delay_ms": _round_ms(answer.final_delay_s),
                "streaming_frames": answer.streaming_frames,
                # When, in seconds from the phase's first model delta: a timeline to read queueing from.
                "first_delta_s": _since(answer.first_delta_at, origin),
                "first_visible_s": _since(answer.first_visible_at, origin),
            }
            for answer, late in zip(answers, behind, strict=True)
        ],
    }


def failed_summary(bot: BotUnderTest, scenario: Scenario, reason: str) -> Summary:
    return {"bot": bot.key, "label": bot.label, "questions": scenario.answers, "failed": reason}


def write_scenario(
    directory: Path, scenario: Scenario, summaries: Sequence[Summary], environment: dict[str, Any]
) -> Path:
    path = directory / f"{scenario.name}.json"
    payload = {
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "kind": scenario.kind,
            "chats": scenario.chats,
            "questions_per_chat": scenario.questions_per_chat,
            "answer_chars": scenario.answer_chars,
            "timeout_s": scenario.timeout_s,
            **(
                {"rate_per_second": scenario.rate_per_second, "duration_s": scenario.duration_s}
                if scenario.kind == "sustained"
                else {}
            ),
        },
        "environment": environment,
        "bots": list(summaries),
    }
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    return path


# -- Markdown ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    scenario: str
    measured: str
    met: bool | None


def markdown(
    scenarios: Sequence[tuple[Scenario, Sequence[Summary]]], environment: dict[str, Any], command: str
) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `{command}` on {environment['date']} (commit `{environment['commit']}`), "
        f"{environment['cpus']} CPUs, Python {environment['python']}. The bot, the Telegram fake, the Yandex "
        "emulator, Redis and the load driver share these CPUs. Model stream: first delta after "
        f"{environment['first_delta_delay_s'] * 1000:.0f} ms, then {environment['chars_per_second']:.0f} "
        "characters/s in word-sized deltas; answers of about "
        f"{environment['answer_chars']} characters. Times in ms; p50 / p95 / max. "
        "Method and definitions: [`bench/README.md`](../README.md).",
        "",
        "| Scenario | Bot | Delivered | First visible − model's first delta | First visible − ideal | "
        "First visible − question | "
        "Display lag while streaming | Final message − model done | Telegram calls / answer | 429s | "
        "CPU ms / answer | Peak RSS MB | Redis round trips / answer |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario, summaries in scenarios:
        for summary in summaries:
            lines.append(_row(scenario, summary))
    lines += ["", "## Baselines compared with this bot", ""]
    lines += _ratios(scenarios)
    lines += ["", "## Targets", "", "| Target | Scenario | Measured | Status |", "|---|---|---|---|"]
    for target in targets(scenarios):
        status = "n/a" if target.met is None else ("met" if target.met else "**missed**")
        lines.append(f"| {target.name} | {target.scenario} | {target.measured} | {status} |")
    notes = [
        f"- {scenario.name}, {summary['label']}: {note}"
        for scenario, summaries in scenarios
        for summary in summaries
        for note in [*summary.get("notes", []), *([summary["failed"]] if "failed" in summary else [])]
    ]
    if notes:
        lines += ["", "## Notes", "", *notes]
    return "\n".join(lines) + "\n"


def _row(scenario: Scenario, summary: Summary) -> str:
    name = f"{scenario.name}"
    if "failed" in summary:
        return f"| {name} | {summary['label']} | {summary['failed']} |" + " |" * 10
    calls = summary["telegram_calls_per_answer"]
    call_text = f"{calls['total']:.1f}"
    if calls["drafts"]:
        call_text += f" ({calls['drafts']:.1f} drafts, {calls['sends_and_edits']:.1f} sends/edits)"
    elif calls["sends_and_edits"]:
        call_text += f" ({calls['sends_and_edits']:.1f} sends/edits)"
    cells = [
        name,
        summary["label"],
        f"{summary['delivered']}/{summary['questions']}",
        _triple(summary["overhead_ms"]),
        _triple(summary["first_visible_minus_ideal_ms"]),
        _triple(summary["first_visible_from_question_ms"], with_max=False),
        _triple(summary["display_lag_ms"]),
        _triple(summary["final_delay_ms"]),
        call_text,
        str(summary["http_429"]),
        _cpu(summary),
        f"{summary['peak_rss_mb']:.0f}",
        _redis(summary),
    ]
    return "| " + " | ".join(cells) + " |"


def _ratios(scenarios: Sequence[tuple[Scenario, Sequence[Summary]]]) -> list[str]:
    lines = [
        "Baseline ÷ this bot, same run, same fakes, same model stream (first visible text: p50 of "
        "first visible − model's first delta).",
        "",
        "| Scenario | Baseline | First visible text | Telegram calls / answer | 429s | CPU / answer |",
        "|---|---|---|---|---|---|",
    ]
    for scenario, summaries in scenarios:
        ours = next((s for s in summaries if s["bot"] == "ours" and "failed" not in s), None)
        if ours is None:
            continue
        for other in summaries:
            if other is ours or "failed" in other:
                continue
            lines.append(
                "| "
                + " | ".join(
                    [
                        scenario.name,
                        other["label"],
                        _ratio(other["overhead_ms"]["p50"], ours["overhead_ms"]["p50"], "ms")
                        if other["overhead_ms"]["p50"] is not None
                        else f"never (most not delivered) vs {_ms_or_never(ours['overhead_ms']['p50'])}",
                        _ratio(
                            other["telegram_calls_per_answer"]["total"],
                            ours["telegram_calls_per_answer"]["total"],
                            "",
                        ),
                        f"{other['http_429']} vs {ours['http_429']}",
                        _ratio(other["cpu_ms_per_answer"], ours["cpu_ms_per_answer"], "ms")
                        if scenario.answers >= MIN_ANSWERS_FOR_CPU
                        else "—",
                    ]
                )
                + " |"
            )
    return lines


CPU_MS_PER_ANSWER_TARGET = 15.0
"""Issue 13: at most 15 ms of CPU per 500-character answer (about 43 ms before)."""


def targets(scenarios: Sequence[tuple[Scenario, Sequence[Summary]]]) -> list[Target]:
    ours = {
        scenario.name: summary
        for scenario, summaries in scenarios
        for summary in summaries
        if summary["bot"] == "ours" and "failed" not in summary
    }
    kinds = {scenario.name: scenario.kind for scenario, _ in scenarios}
    found: list[Target] = []
    # Issue 13: the output scheduler and the cost of an answer.
    for name, summary in ours.items():
        behind = summary["first_visible_minus_ideal_ms"]
        if kinds[name] != "sustained":
            found.append(
                Target(
                    "First visible − ideal p50 ≤ 100 ms (issue 13)",
                    name,
                    _ms_text(behind["p50"]),
                    _le(behind["p50"], 100),
                )
            )
            found.append(
                Target(
                    "First visible − ideal p95 ≤ 300 ms (issue 13)",
                    name,
                    _ms_text(behind["p95"]),
                    _le(behind["p95"], 300),
                )
            )
    for name, summary in ours.items():
        found.append(
            Target(
                "0 × 429 (issue 13)",
                name,
                f"{summary['http_429']}"
                + (
                    f" ({summary['http_429_inside_penalty_window']} inside a penalty window)"
                    if summary["http_429"]
                    else ""
                ),
                summary["http_429"] == 0,
            )
        )
        found.append(
            Target(
                "Every answer delivered (issue 13)",
                name,
                f"{summary['delivered']}/{summary['questions']}",
                summary["delivered"] == summary["questions"],
            )
        )
    for name, summary in ours.items():
        if summary["questions"] >= MIN_ANSWERS_FOR_CPU:
            cpu = summary["cpu_ms_per_answer"]
            found.append(
                Target(
                    f"CPU ≤ {CPU_MS_PER_ANSWER_TARGET:.0f} ms per 500-character answer (issue 13)",
                    name,
                    f"{cpu:.1f} ms",
                    cpu <= CPU_MS_PER_ANSWER_TARGET,
                )
            )
    # Earlier issues' targets, kept for comparison.
    private = [name for name in ours if kinds[name] == "private"]
    smallest = min(private, key=_chats, default=None)
    for name in private:
        p50 = ours[name]["overhead_ms"]["p50"]
        found.append(Target("Overhead p50 ≤ 50 ms (issues 3, 7)", name, _ms_text(p50), _le(p50, 50)))
    largest = max(private, key=_chats, default=None)
    if largest:
        rss = ours[largest]["peak_rss_mb"]
        found.append(Target("Peak RSS ≤ 300 MB", largest, f"{rss:.0f} MB", rss <= 300))
    redis = [
        s["redis_round_trips_per_answer"]
        for s in ours.values()
        if s["redis_round_trips_per_answer"] is not None
    ]
    if redis:
        found.append(
            Target(
                "≤ 6 Redis round trips per answer (issue 7)",
                "all (max)",
                f"{max(redis):.2f}",
                max(redis) <= 6,
            )
        )
    if smallest:
        final = ours[smallest]["final_delay_ms"]
        found.append(
            Target(
                "Final message ≤ 300 ms after the model completes (issue 3)",
                f"{smallest} (p95)",
                _ms_text(final["p95"]),
                _le(final["p95"], 300),
            )
        )
    for name in private:
        p95 = ours[name]["first_visible_from_question_ms"]["p95"]
        found.append(
            Target(
                "First visible ≤ 1.5 s after the question (issue 3)",
                f"{name} (p95)",
                _ms_text(p95),
                _le(p95, 1500),
            )
        )
    return found


def _chats(name: str) -> int:
    return int(name.split("-")[1])


def _le(value: float | None, limit: float) -> bool:
    """Met when measured and within the limit; a percentile among undelivered answers is a miss."""
    return value is not None and value <= limit


def _redis(summary: Summary) -> str:
    """Round trips of the answers, plus those of new connections (handshake, first health PING)."""
    per_answer = summary["redis_round_trips_per_answer"]
    if per_answer is None:
        return "—"
    trips = summary["redis_round_trips"]
    setup = (trips.get("connection", 0) + trips.get("health", 0)) / max(1, summary["questions"])
    return f"{per_answer:.2f}" + (f" (+{setup:.1f} new-connection set-up)" if setup >= 0.05 else "")


def _cpu(summary: Summary) -> str:
    if summary["questions"] < MIN_ANSWERS_FOR_CPU:
        return f"({summary['cpu_seconds_measured']:.2f} s in all)"
    return f"{summary['cpu_ms_per_answer']:.1f}"


def _ms(dist: dict[str, float | int | None]) -> dict[str, float | int | None]:
    return {
        key: (round(value * 1000, 1) if key not in ("count", "never") and value is not None else value)
        for key, value in dist.items()
    }


def _round_ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _since(at: float | None, origin: float) -> float | None:
    return None if at is None else round(at - origin, 3)


def _per(count: int, answers: int) -> float:
    return round(count / answers, 2) if answers else 0.0


def _ms_text(value: float | None) -> str:
    return "never (not delivered)" if value is None else f"{value:.0f} ms"


def _triple(dist: dict[str, Any], *, with_max: bool = True) -> str:
    """p50 / p95 / max in ms; "never" where the percentile falls among answers that never arrived."""
    if not dist.get("count"):
        return "never" if dist.get("never") else "—"
    keys: Iterable[str] = ("p50", "p95", "max") if with_max else ("p50", "p95")
    return " / ".join("never" if dist[key] is None else f"{dist[key]:.0f}" for key in keys)


def _ratio(value: float | None, reference: float | None, unit: str) -> str:
    if value is None or reference is None:
        return "—"
    text = f"{value:.1f} vs {reference:.1f}{(' ' + unit) if unit else ''}"
    if reference > 0:
        text += f" (×{value / reference:.1f})"
    return text


def _ms_or_never(value: float | None) -> str:
    """A time in ms, or "never" when most answers were not delivered (the report must still be written)."""
    return "never" if value is None else f"{value:.1f} ms"
