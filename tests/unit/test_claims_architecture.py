"""README "Architecture", the claims test_architecture.py does not cover: one place builds the clients,
and the module map in the README names the modules that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "bot"
# What builds a client: aiogram's Bot and its session, the openai client, a Redis client or pool.
CLIENT_CONSTRUCTORS = {
    "Bot",
    "AiohttpSession",
    "AsyncOpenAI",
    "Redis",
    "BlockingConnectionPool",
    "ConnectionPool",
}
# wiring.py builds them for the running bot (bot/yandex/client.py is the factory it calls for the Yandex
# side); the health check and the doctor's Redis probe open a short-lived Redis connection of their own.
BUILDERS = {"bot/wiring.py", "bot/yandex/client.py"}
OWN_REDIS_PROBES = {"bot/health.py", "bot/doctor/checks.py"}


def constructed_clients(path: Path) -> set[str]:
    """Names of client classes this module instantiates (`X(...)` or `X.from_url(...)`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "from_url":
            func = func.value
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in CLIENT_CONSTRUCTORS:
            found.add(name)
    return found


def test_only_the_wiring_builds_clients() -> None:
    builders = {
        str(path.relative_to(ROOT)): clients
        for path in sorted(BOT.rglob("*.py"))
        if (clients := constructed_clients(path))
    }
    assert set(builders) >= BUILDERS, builders
    outside = {module: clients for module, clients in builders.items() if module not in BUILDERS}
    assert set(outside) <= OWN_REDIS_PROBES, outside
    assert all(clients <= {"Redis"} for clients in outside.values()), outside


def test_only_the_wiring_uses_the_yandex_client_factory() -> None:
    users = {
        str(path.relative_to(ROOT))
        for path in BOT.rglob("*.py")
        if re.search(r"\bbuild_(openai_client|credentials)\b", path.read_text())
    }
    assert users == {"bot/wiring.py", "bot/yandex/client.py"}


def readme_tree() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Architecture") :]
    return section[section.index("```") + 3 : section.index("```", section.index("```") + 3)]


def test_the_readmes_module_map_names_every_module_and_only_existing_ones() -> None:
    tree = readme_tree()
    named = set(re.findall(r"\b([a-z_]+\.py)\b", tree)) | {
        f"{d}/" for d in re.findall(r"^\s*([a-z_]+)/ ", tree, re.M)
    }
    modules = {
        path.name
        for package in (BOT, BOT / "core", BOT / "telegram", BOT / "yandex", BOT / "storage")
        for path in package.glob("*.py")
        if path.name != "__init__.py"
    }
    existing = {path.name for path in BOT.rglob("*.py")} | {
        f"{p.name}/" for p in BOT.rglob("*") if p.is_dir()
    }
    existing |= {"bot/", "tests/", "unit/", "e2e/", "contract/", "fakes/"}
    assert named <= existing, f"named in the README but missing: {sorted(named - existing)}"
    # storage/ is described by what it holds, not file by file.
    unnamed = {m for m in modules - named if not (BOT / "storage" / m).exists()}
    assert not unnamed, f"modules the README's map does not mention: {sorted(unnamed)}"


def test_handlers_are_thin_they_reach_storage_and_yandex_only_through_the_services() -> None:
    handlers = sorted((BOT / "telegram" / "handlers").glob("*.py"))
    assert handlers
    forbidden = ("redis", "openai", "httpx", "bot.storage", "bot.yandex", "bot.wiring")
    classifying = {"bot.storage.outage"}  # tells whether an exception means Redis is gone; no access
    offenders = {
        f"{path.name}: {module}"
        for path in handlers
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for module in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""])
        if any(module == bad or module.startswith(bad + ".") for bad in forbidden)
        and module not in classifying
    }
    assert not offenders
