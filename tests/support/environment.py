"""The environment variables the bot's settings read, so tests can clear every one of them: a value
in the developer's shell (say ALLOWED_USER_IDS or REPLY_FORMAT) must never change what a test sees."""

from __future__ import annotations

import os

import pytest
from pydantic import AliasChoices

from bot.settings import Settings


def settings_environment_names() -> frozenset[str]:
    """Every name `Settings` reads, upper-case (pydantic-settings matches names case-insensitively)."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(name.upper())
    return frozenset(names)


def clear_settings_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove (for this test only) every environment variable the settings would read."""
    names = settings_environment_names()
    for name in list(os.environ):
        if name.upper() in names:
            monkeypatch.delenv(name)


def without_settings_environment(environment: dict[str, str]) -> dict[str, str]:
    """`environment` minus what the settings would read: the base of a child process's environment."""
    names = settings_environment_names()
    return {name: value for name, value in environment.items() if name.upper() not in names}
