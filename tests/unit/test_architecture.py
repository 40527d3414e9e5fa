"""The layering rule: `bot.core` must not import aiogram, redis or openai (or the adapters)."""

from __future__ import annotations

import ast
from pathlib import Path

FORBIDDEN = ("aiogram", "redis", "openai", "bot.telegram", "bot.storage", "bot.yandex", "bot.wiring")
CORE = Path(__file__).resolve().parents[2] / "bot" / "core"


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_core_depends_on_nothing_outside_itself() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert files, "bot/core should exist"
    offenders = {
        f"{path.name}: {module}"
        for path in files
        for module in imported_modules(path)
        if any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN)
    }
    assert not offenders
