"""The README's configuration table against the settings the bot really reads: every setting the bot
has is in the table and in .env.example, every row names real settings, and every documented default is
the one the bot uses when the setting is not given."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {"BOT_TOKEN": "123:abc", "YC_FOLDER_ID": "folder", "YC_API_KEY": "key"}

# Defaults the table states in words rather than as a literal value: what each means, as a value.
DEFAULTS_IN_WORDS: dict[str, Any] = {
    "TELEGRAM_API_URL": None,  # "api.telegram.org": no custom server
    "TELEGRAM_PROXY": None,
    "HTTPS_PROXY": None,
    "NO_PROXY": None,
    "WEBHOOK_URL": None,
    "WEBHOOK_SECRET": None,
    "YC_AUTH": "api_key",  # `auto`: the one credential that is set, the API key given above
    "YC_API_KEY": "key",  # required in practice (one credential): given above
    "YC_SA_KEY_FILE": None,
    "YC_IAM_TOKEN": None,
    "YC_MODELS": ("yandexgpt/latest",),  # "just YC_MODEL"
    "WEB_SEARCH_DOMAINS": (),
    "WEB_SEARCH_REGION": None,
    "MODEL_CONTEXT_TOKENS": 32_768,  # "from the models": YandexGPT Pro's
    "VISION_MODEL": None,
    "ALLOWED_USER_IDS": frozenset(),
    "ALLOWED_CHAT_IDS": frozenset(),
    "ADMIN_USER_IDS": frozenset(),
    "USER_DAILY_TOKENS": 0,
    "CHAT_DAILY_TOKENS": 0,
    "GROUP_CONTEXT_MESSAGES": 0,
    "BOT_TOKEN": "123:abc",
    "YC_FOLDER_ID": "folder",
}
# Effective values of settings whose field is resolved later (a property derives the used value).
EFFECTIVE = {"YC_MODELS": "allowed_models", "MODEL_CONTEXT_TOKENS": "context_tokens"}


def configuration_rows() -> list[tuple[list[str], str, str]]:
    """(setting names, default cell, meaning cell) of each row of the README's configuration table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        rows.append((re.findall(r"`([A-Z_]+)`", cells[0]), cells[1], cells[2]))
    return rows


def field_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


@pytest.fixture
def defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    for name in list(os.environ):
        if name.upper() in field_names():
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return load_settings(**{name.lower(): value for name, value in REQUIRED.items()}, _env_file=None)


def test_every_setting_is_in_the_readme_table_and_in_env_example() -> None:
    documented = {name for names, _, _ in configuration_rows() for name in names}
    assert documented == field_names(), (
        f"undocumented: {sorted(field_names() - documented)}, not settings: {sorted(documented - field_names())}"
    )
    example = set(re.findall(r"^#? ?([A-Z][A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert field_names() <= example, f"missing from .env.example: {sorted(field_names() - example)}"


def as_value(literal: str, current: Any) -> Any:
    """The README's literal in the type of the setting's value."""
    if isinstance(current, bool):
        return {"true": True, "false": False}[literal]
    if isinstance(current, (int, float)):
        return type(current)(literal.replace(",", ""))
    if isinstance(current, frozenset | tuple):
        return type(current)(part.strip() for part in literal.split(",") if part.strip())
    return literal


def effective(settings: Settings, name: str) -> Any:
    value = getattr(settings, EFFECTIVE.get(name, name.lower()))
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


def test_every_documented_default_is_the_one_the_bot_uses(defaults: Settings) -> None:
    checked = set()
    for names, cell, meaning in configuration_rows():
        literals = re.findall(r"`([^`]*)`", cell)
        if all(name in DEFAULTS_IN_WORDS for name in names):
            for name in names:
                assert effective(defaults, name) == DEFAULTS_IN_WORDS[name], name
                checked.add(name)
            continue
        if names == ["YC_STT_URL", "YC_STT_ASYNC_URL", "YC_OPERATIONS_URL"]:
            assert cell == "SpeechKit's"
            literals = re.findall(r"`(https://[^`]+)`", meaning)
        elif names == ["ASSISTANT_INSTRUCTIONS"]:
            assert cell == "built-in" and "Telegram" in defaults.assistant_instructions
            checked.add("ASSISTANT_INSTRUCTIONS")
            continue
        elif len(literals) == 1 and len(names) > 1:
            literals = [part.strip() for part in literals[0].split(",")]
        assert len(literals) == len(names), f"{names}: cannot read the default {cell!r}"
        for name, literal in zip(names, literals, strict=True):
            value = effective(defaults, name)
            assert value == as_value(literal, value), (
                f"{name}: README says {literal!r}, the bot uses {value!r}"
            )
            checked.add(name)
    assert checked == field_names()


@pytest.mark.parametrize(
    ("setting", "accepted", "refused"),
    [
        ("STT_MAX_DURATION_SECONDS", ["30", "14400"], ["29", "14401"]),  # "30–14400 s"
        ("MAX_IMAGE_MB", ["20"], ["20.5", "0"]),  # "at most 20, Telegram's download limit"
        ("STT_LANGUAGE", ["auto", "ru-RU", "KK-kz", "EN-us"], ["klingon", "ru"]),  # SpeechKit's codes
        (
            "WEB_SEARCH_DOMAINS",
            ["a.ru,b.ru,c.ru,d.ru,e.ru"],
            ["a.ru,b.ru,c.ru,d.ru,e.ru,f.ru"],
        ),  # "at most 5"
    ],
)
def test_documented_bounds_are_enforced(
    defaults: Settings, setting: str, accepted: list[str], refused: list[str]
) -> None:
    for value in accepted:
        load_settings(
            **{name.lower(): v for name, v in REQUIRED.items()}, **{setting.lower(): value}, _env_file=None
        )
    for value in refused:
        with pytest.raises(SettingsError, match=setting):
            load_settings(
                **{name.lower(): v for name, v in REQUIRED.items()},
                **{setting.lower(): value},
                _env_file=None,
            )
