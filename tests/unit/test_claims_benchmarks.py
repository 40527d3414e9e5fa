"""README "Benchmarks": its figures are the recorded results' (bench/results/), not numbers typed by hand.
Speed itself is measured by `python -m bench.run` and `python -m bench.replicas`, never by tests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench.replica_report import markdown_section

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
SCENARIOS = ("private-1", "private-100", "private-1000", "groups-50")


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
    one = ours("private-1")
    assert f"first visible text {one['overhead_ms']['p50']:.0f} ms after the model's first delta" in text
    assert f"final message {one['final_delay_ms']['p50']:.0f} ms after the model completes" in text
    peak = max(ours(s)["peak_rss_mb"] for s in SCENARIOS)
    assert f"peak RSS {peak:.0f} MB at 1,000 chats" in text
    assert ours("private-1000")["peak_rss_mb"] == peak
    assert all(ours(s)["http_429"] == 0 for s in SCENARIOS), "zero 429s in every scenario"
    assert all(ours(s)["delivered"] == ours(s)["questions"] for s in SCENARIOS), "every answer delivered"
    misses = re.search(r"p50: (\d+) ms at 100 chats", text)
    assert misses and int(misses.group(1)) == round(ours("private-100")["overhead_ms"]["p50"])


def test_the_commands_exist_with_their_quick_modes() -> None:
    for module in ("run", "replicas"):
        source = (ROOT / "bench" / f"{module}.py").read_text()
        assert '"--quick"' in source, module
