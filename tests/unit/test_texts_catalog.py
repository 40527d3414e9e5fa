"""The text catalogs: a key written twice (a string and a Notice with the same value) silently loses
one of the texts, so every key must be unique."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.core.models import Notice

TEXTS = Path(__file__).resolve().parents[2] / "bot" / "telegram" / "texts.py"


def catalog_keys() -> dict[str, list[str]]:
    catalogs: dict[str, list[str]] = {}
    for node in ast.parse(TEXTS.read_text()).body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.value, ast.Dict)):
            continue
        assert isinstance(node.target, ast.Name)
        keys: list[str] = []
        for key in node.value.keys:
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                keys.append(key.value)
            elif (
                isinstance(key, ast.Attribute)
                and isinstance(key.value, ast.Name)
                and key.value.id == "Notice"
            ):
                keys.append(Notice[key.attr].value)
        catalogs[node.target.id] = keys
    return catalogs


def test_no_text_key_is_written_twice() -> None:
    catalogs = {name: keys for name, keys in catalog_keys().items() if name in ("_EN", "_RU")}
    assert set(catalogs) == {"_EN", "_RU"}
    for name, keys in catalogs.items():
        assert len(keys) > 50
        assert sorted({k for k in keys if keys.count(k) > 1}) == [], name
