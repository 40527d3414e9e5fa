"""README "Benchmarks": its figures are the recorded results' (bench/results/), not numbers typed by hand.
Speed itself is measured by `python -m bench.run` and `python -m bench.replicas`, never by tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.replica_report import existing_section, markdown_section, write_section

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
BURSTS = ("private-20", "private-200", "private-1000", "groups-50")
SUSTAINED = ("sustained-5", "sustained-10", "sustained-20")
SCENARIOS = BURSTS + SUSTAINED


def benchmarks_section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Benchmarks")
    return readme[start : readme.index("\n## ", start + 1)]


def ours(scenario: str) -> dict[str, Any]:
    result = json.loads((RESULTS / f"{scenario}.json").read_text())
    return next(bot for bot in result["bots"] if bot["bot"] == "ours")


def test_the_readmes_tables_are_copied_from_the_recorded_results() -> None:
    results_page = (RESULTS / "README.md").read_text()
    rows = [line for line in benchmarks_section().splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) >= 12, "the scenario table and the replica tables"
    missing = [row for row in rows if row not in results_page]
    assert not missing, f"rows not in bench/results/README.md: {missing}"


def test_the_replica_tables_are_what_the_recorded_replica_run_renders() -> None:
    rendered = markdown_section(json.loads((RESULTS / "replicas.json").read_text()))
    readme_rows = [
        line
        for line in benchmarks_section().split("### Several replicas, one killed")[1].splitlines()
        if line.startswith("| ") and "---" not in line
    ]
    assert readme_rows
    assert all(row in rendered for row in readme_rows), [r for r in readme_rows if r not in rendered]


def baselines(scenario: str) -> list[dict[str, Any]]:
    result = json.loads((RESULTS / f"{scenario}.json").read_text())
    return [bot for bot in result["bots"] if bot["bot"] != "ours" and "failed" not in bot]


def test_the_targets_paragraph_quotes_the_results() -> None:
    text = " ".join(benchmarks_section().split())
    targets = text[text.index("**Targets (issue 13).**") :]
    met, missed = targets.split("**Missed**", 1)

    assert all(ours(s)["http_429"] == 0 for s in SCENARIOS), "claimed: no 429 anywhere"
    assert "**0 × 429 in every scenario**" in met
    worst_baseline = max(b["http_429"] for s in BURSTS for b in baselines(s))
    assert f"the baselines caused up to {worst_baseline:,}" in met
    assert all(ours(s)["delivered"] == ours(s)["questions"] for s in SCENARIOS), "every answer delivered"
    assert "**every answer delivered** in every scenario" in met

    def behind(scenario: str) -> dict[str, float]:
        figures: dict[str, float] = ours(scenario)["first_visible_minus_ideal_ms"]
        return figures

    def within_target(scenario: str) -> bool:
        return behind(scenario)["p50"] <= 100 and behind(scenario)["p95"] <= 300

    at_20 = behind("private-20")
    assert (
        within_target("private-20")
        and f"at 20 chats (p50 {at_20['p50']:.0f} ms, p95 {at_20['p95']:.0f} ms)" in met
    )
    at_200 = behind("private-200")
    assert not within_target("private-200")
    assert (
        f"*First visible − ideal at 200 chats* (p50 {at_200['p50']:.0f} ms, p95 {at_200['p95']:.0f} ms;"
        in missed
    )
    for scenario, label in (("private-1000", "at 1,000 chats"), ("groups-50", "in busy groups")):
        figures = behind(scenario)
        assert not within_target(scenario), scenario
        quoted = f"*First visible − ideal {label}* (p50 {figures['p50'] / 1000:.1f} s, p95 {figures['p95'] / 1000:.1f} s)"
        assert quoted in missed, quoted
    assert f"{ours('private-1000')['telegram_late_turns']} granted turns went unused" in missed

    cpu = {s: ours(s)["cpu_ms_per_answer"] for s in ("private-200", "private-1000", "groups-50", *SUSTAINED)}
    assert cpu["private-200"] <= 15 and cpu["private-1000"] <= 15, "claimed met"
    assert (
        f"CPU at 200 and 1,000 chats ({cpu['private-200']:.1f} and {cpu['private-1000']:.1f} ms per answer)"
        in met
    )
    assert all(cpu[s] > 15 for s in ("groups-50", *SUSTAINED)), "reported missed"
    assert f"in groups ({cpu['groups-50']:.1f} ms)" in missed
    sustained = ", ".join(f"{cpu[s]:.1f}" for s in SUSTAINED[:2]) + f" and {cpu[SUSTAINED[2]]:.1f}"
    assert f"under sustained load ({sustained} ms at 5, 10 and 20 questions a second)" in missed


def test_the_commands_exist_with_their_quick_modes() -> None:
    for module in ("run", "replicas"):
        source = (ROOT / "bench" / f"{module}.py").read_text()
        assert '"--quick"' in source, module


def test_rewriting_the_results_page_keeps_the_replica_runs_section(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    section = markdown_section(json.loads((RESULTS / "replicas.json").read_text()))
    page.write_text("# Benchmark results\n\nold tables\n\n" + section)
    kept = existing_section(page)  # what `python -m bench.run` does around its rewrite
    page.write_text("# Benchmark results\n\nnew tables\n")
    assert kept is not None
    write_section(page, kept)
    text = page.read_text()
    assert "new tables" in text and "old tables" not in text and section.strip() in text
    assert existing_section(tmp_path / "absent.md") is None
