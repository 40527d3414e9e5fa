"""The layering rules: `bot.core` imports no aiogram, redis or openai (nor the adapters); `bot.storage`
imports neither the Telegram nor the Yandex adapters (storage → telegram was once against the grain)."""

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


STORAGE = Path(__file__).resolve().parents[2] / "bot" / "storage"
# Storage adapters serve the core's ports; they never reach up into the Telegram or Yandex adapters or
# the wiring (the shared output budget's types live in bot.core.output_limits for both sides).
STORAGE_FORBIDDEN = ("aiogram", "openai", "bot.telegram", "bot.yandex", "bot.wiring", "bot.app")


def test_storage_depends_on_core_but_not_on_the_telegram_or_yandex_adapters() -> None:
    files = sorted(STORAGE.rglob("*.py"))
    assert any(path.name == "telegram_budget.py" for path in files)
    offenders = {
        f"{path.name}: {module}"
        for path in files
        for module in imported_modules(path)
        if any(module == bad or module.startswith(bad + ".") for bad in STORAGE_FORBIDDEN)
    }
    assert not offenders
