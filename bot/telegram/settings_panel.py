"""The /settings message: the chat's settings as text, and an inline keyboard whose buttons change one
setting each. Its callback data, and how a callback is read back (`parse_action`).

Callback data (at most 64 bytes, Bot API): `st:m:<model>` (the model as the operator wrote it, or `#`
and a hash when that is too long), `st:f:classic|rich`, `st:w:on|off`. A press counts only when its
message carries the button (middlewares.CallbackGuardMiddleware); its action is still checked against
what the operator allows when it arrives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.formatting import Bold, Italic, Text

from bot.core.chat_settings import ChatSettings, ModelOption, ReplyFormat, SettingsPolicy
from bot.core.models import Language
from bot.telegram import texts
from bot.telegram.formatting import Chunk

CALLBACK_PREFIX = "st:"
MAX_CALLBACK_BYTES = 64
INSTRUCTIONS_PREVIEW_CHARS = 300
CHOSEN = "✅ "


@dataclass(frozen=True, slots=True)
class ModelAction:
    option: ModelOption | None
    """None: the data names no model this bot offers (forged, or withdrawn by the operator)."""


@dataclass(frozen=True, slots=True)
class FormatAction:
    reply_format: ReplyFormat


@dataclass(frozen=True, slots=True)
class WebSearchAction:
    enabled: bool


Action = ModelAction | FormatAction | WebSearchAction


def model_token(model: str) -> str:
    """What identifies a model in callback data: itself, or a hash when it does not fit."""
    room = MAX_CALLBACK_BYTES - len(f"{CALLBACK_PREFIX}m:".encode())
    if len(model.encode()) <= room:
        return model
    return "#" + hashlib.sha256(model.encode()).hexdigest()[:24]


def parse_action(data: str, policy: SettingsPolicy) -> Action | None:
    """The action a settings button asks for; None when the data is not a settings action at all."""
    kind, _, value = data.removeprefix(CALLBACK_PREFIX).partition(":")
    if kind == "m":
        return ModelAction(next((o for o in policy.models if model_token(o.model) == value), None))
    if kind == "f" and value in set(ReplyFormat):
        return FormatAction(ReplyFormat(value))
    if kind == "w" and value in ("on", "off"):
        return WebSearchAction(value == "on")
    return None


def render_panel(
    settings: ChatSettings,
    policy: SettingsPolicy,
    language: Language,
    *,
    in_group: bool,
    in_topic: bool,
    status: str | None = None,
) -> tuple[Chunk, InlineKeyboardMarkup]:
    def t(key: str) -> str:
        return texts.text(language, key)

    format_key = (
        "settings_format_rich" if settings.reply_format is ReplyFormat.RICH else "settings_format_classic"
    )
    current: list[Text] = [
        Text(Bold(t("settings_model")), settings.model.name),
        Text(Bold(t("settings_format")), t(format_key)),
    ]
    if settings.web_search_offered:
        state = t("settings_web_on" if settings.web_search else "settings_web_off")
        current.append(Text(Bold(t("settings_web")), state))
    label = t("settings_instructions_own" if settings.own_instructions else "settings_instructions_default")
    current.append(Text(Bold(label), _preview(settings.instructions)))
    hints = [Text(Italic(t("settings_prompt_hint")))]
    if in_group:
        hints.append(Text(Italic(t("settings_admins_hint"))))
    blocks = [[Text(Bold(t("settings_title_topic" if in_topic else "settings_title")))], current, hints]
    if status:
        blocks.append([Text(status)])
    parts: list[Text | str] = []
    for block in blocks:
        if parts:
            parts.append("\n\n")
        for index, line in enumerate(block):
            parts.extend(("\n", line) if index else (line,))
    rendered = Text(*parts).as_kwargs()
    chunk = Chunk(text=rendered["text"], entities=tuple(rendered["entities"] or ()))
    return chunk, _keyboard(settings, policy, language)


def _preview(instructions: str) -> str:
    flat = " ".join(instructions.split())
    if len(flat) <= INSTRUCTIONS_PREVIEW_CHARS:
        return f"«{flat}»"
    return f"«{flat[: INSTRUCTIONS_PREVIEW_CHARS - 1].rstrip()}…»"


def _keyboard(settings: ChatSettings, policy: SettingsPolicy, language: Language) -> InlineKeyboardMarkup:
    def button(label: str, data: str, chosen: bool) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=(CHOSEN if chosen else "") + label, callback_data=CALLBACK_PREFIX + data
        )

    rows = [
        [button(option.name, f"m:{model_token(option.model)}", option == settings.model)]
        for option in policy.models
    ]
    rows.append(
        [
            button(
                texts.text(language, "settings_button_classic"),
                "f:classic",
                settings.reply_format is ReplyFormat.CLASSIC,
            ),
            button(
                texts.text(language, "settings_button_rich"),
                "f:rich",
                settings.reply_format is ReplyFormat.RICH,
            ),
        ]
    )
    if settings.web_search_offered:
        rows.append(
            [
                button(texts.text(language, "settings_button_web_on"), "w:on", settings.web_search),
                button(texts.text(language, "settings_button_web_off"), "w:off", not settings.web_search),
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)
