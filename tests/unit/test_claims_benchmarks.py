"""README "Benchmarks": its figures are the recorded results' (bench/results/), not numbers typed by hand.
Speed itself is measured by `python -m bench.run` and `python -m bench.replicas`, never by tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.replica_report import markdown_section

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


def test_the_targets_paragraph_quotes_the_results() -> None:
    text = " ".join(benchmarks_section().split())
    targets = text[text.index("**Targets (issue 13).**") :]
    met_429 = [s for s in SCENARIOS if ours(s)["http_429"] == 0]
    assert met_429 == ["private-20", "private-200", "groups-50", *SUSTAINED], "the 429 targets it claims met"
    assert "**0 × 429** at 20 and 200 chats, in busy groups and at every sustained rate" in targets
    assert f"*0 × 429 at 1,000 chats*: {ours('private-1000')['http_429']} global 429s" in targets
    assert all(ours(s)["delivered"] == ours(s)["questions"] for s in SCENARIOS), "every answer delivered"
    behind_20 = ours("private-20")["first_visible_minus_ideal_ms"]
    assert f"(p50 {behind_20['p50']:.0f} ms, p95 {behind_20['p95']:.0f} ms)" in targets
    assert behind_20["p50"] <= 100 and behind_20["p95"] <= 300, "claimed met at 20 chats"
    behind_200 = ours("private-200")["first_visible_minus_ideal_ms"]["p50"] / 1000
    assert f"p50 {behind_200:.1f} s at 200 chats" in targets
    cpu = {s: ours(s)["cpu_ms_per_answer"] for s in ("private-200", "private-1000", "groups-50")}
    assert (
        f"({cpu['private-200']:.1f} ms at 200 chats, {cpu['private-1000']:.1f} at 1,000, "
        f"{cpu['groups-50']:.1f} in groups" in targets
    )
    assert min(cpu.values()) > 15, "the CPU target is reported missed"
    sustained = ours("sustained-5")["overhead_ms"]["p50"], ours("sustained-10")["overhead_ms"]["p50"]
    assert f"at 5 and 10/s first text came {sustained[0]:.0f} and {sustained[1]:.0f} ms" in targets


def test_the_commands_exist_with_their_quick_modes() -> None:
    for module in ("run", "replicas"):
        source = (ROOT / "bench" / f"{module}.py").read_text()
        assert '"--quick"' in source, module
