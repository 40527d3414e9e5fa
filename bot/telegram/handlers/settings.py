"""/settings (an inline keyboard, updated in place) and the same changes as commands: /model, /format,
/websearch, /prompt.

Everyone may look; in groups only admins may change (an anonymous admin, posting as the group, counts;
telegram.permissions). A press reaches `settings_button` only when the bot's message carries that very
button (middlewares.CallbackGuardMiddleware answers forged or stale data), so it acts on that settings
message's own chat or topic; what the button asks for is still checked against what the operator
allows now (the panel may be older than a change of YC_MODELS or WEB_SEARCH).
"""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.core.chat_settings import MAX_INSTRUCTIONS_CHARS, Change, ChatSettings, ReplyFormat
from bot.core.models import ConversationKey, Language
from bot.telegram import texts
from bot.telegram.filters import InLoop
from bot.telegram.formatting import CLASSIC_LIMIT, Chunk, escape_markdown, split_chunk, utf16_len
from bot.telegram.mappers import conversation_key, destination, is_group, language, pressed_key
from bot.telegram.permissions import may_administer, sent_by_admin
from bot.telegram.services import BotServices
from bot.telegram.settings_panel import (
    CALLBACK_PREFIX,
    FormatAction,
    ModelAction,
    WebSearchAction,
    parse_action,
    render_panel,
)

log = logging.getLogger(__name__)

MAX_CALLBACK_ANSWER = 200  # answerCallbackQuery: "0-200 characters"


def _toast(text: str) -> str:
    """A callback answer within Telegram's limit (UTF-16 units, the stricter count)."""
    if utf16_len(text) <= MAX_CALLBACK_ANSWER:
        return text
    cut = text[:MAX_CALLBACK_ANSWER]
    while utf16_len(cut) > MAX_CALLBACK_ANSWER - 1:
        cut = cut[:-1]
    return cut.rstrip() + "…"


async def _say(message: Message, services: BotServices, line: str) -> None:
    await services.sender.send_markdown(destination(message, reply=True), escape_markdown(line), reply=True)


async def _refuse_unless_allowed(message: Message, services: BotServices, bot: Bot, lang: Language) -> bool:
    if await sent_by_admin(bot, services.access, message):
        return False
    await _say(message, services, texts.text(lang, "settings_admins_only"))
    return True


def _models_list(services: BotServices) -> str:
    return ", ".join(f"{o.name} ({o.model})" for o in services.chat_settings.policy.models)


def _panel(
    settings: ChatSettings, services: BotServices, message: Message, lang: Language, status: str | None = None
) -> tuple[Chunk, InlineKeyboardMarkup]:
    return render_panel(
        settings,
        services.chat_settings.policy,
        lang,
        in_group=is_group(message),
        in_topic=bool(message.is_topic_message) and services.group_context != "group",
        status=status,
    )


async def show_settings(message: Message, services: BotServices) -> None:
    lang = language(message.from_user)
    settings = await services.chat_settings.current(conversation_key(message, services.group_context))
    chunk, keyboard = _panel(settings, services, message, lang)
    await services.sender.send_chunk(destination(message, reply=True), chunk, reply=True, markup=keyboard)


async def model_command(message: Message, command: CommandObject, services: BotServices, bot: Bot) -> None:
    lang = language(message.from_user)
    key = conversation_key(message, services.group_context)
    wanted = (command.args or "").strip()
    if not wanted:
        current = await services.chat_settings.current(key)
        await _say(
            message,
            services,
            texts.text(lang, "model_current", name=current.model.name, models=_models_list(services)),
        )
        return
    if await _refuse_unless_allowed(message, services, bot, lang):
        return
    option = services.chat_settings.find_model(wanted)
    if option is None:
        await _say(
            message,
            services,
            texts.text(lang, "model_unknown", name=wanted[:100], models=_models_list(services)),
        )
        return
    change = await services.chat_settings.choose_model(key, option.model)
    line = (
        texts.text(lang, "model_switched", name=option.name)
        if change is Change.CHANGED
        else texts.text(lang, "settings_unchanged")
    )
    await _say(message, services, line)


async def format_command(message: Message, command: CommandObject, services: BotServices, bot: Bot) -> None:
    lang = language(message.from_user)
    key = conversation_key(message, services.group_context)
    wanted = (command.args or "").strip().lower()
    if not wanted:
        current = await services.chat_settings.current(key)
        await _say(message, services, texts.text(lang, "format_current", format=current.reply_format.value))
        return
    if wanted not in set(ReplyFormat):
        await _say(message, services, texts.text(lang, "format_usage"))
        return
    if await _refuse_unless_allowed(message, services, bot, lang):
        return
    change = await services.chat_settings.choose_format(key, ReplyFormat(wanted))
    await _say(message, services, _format_line(change, ReplyFormat(wanted), lang))


async def websearch_command(
    message: Message, command: CommandObject, services: BotServices, bot: Bot
) -> None:
    lang = language(message.from_user)
    key = conversation_key(message, services.group_context)
    wanted = (command.args or "").strip().lower()
    if not services.chat_settings.policy.web_search_offered:
        await _say(message, services, texts.text(lang, "web_disabled"))
        return
    if not wanted:
        current = await services.chat_settings.current(key)
        state = texts.text(lang, "settings_web_on" if current.web_search else "settings_web_off")
        await _say(message, services, texts.text(lang, "web_current", state=state))
        return
    if wanted not in ("on", "off"):
        await _say(message, services, texts.text(lang, "web_usage"))
        return
    if await _refuse_unless_allowed(message, services, bot, lang):
        return
    change = await services.chat_settings.choose_web_search(key, wanted == "on")
    await _say(message, services, _web_line(change, wanted == "on", lang))


async def prompt_command(message: Message, command: CommandObject, services: BotServices, bot: Bot) -> None:
    lang = language(message.from_user)
    key = conversation_key(message, services.group_context)
    text = (command.args or "").strip()
    if not text:
        current = await services.chat_settings.current(key)
        title = texts.text(lang, "prompt_show_own" if current.own_instructions else "prompt_show_default")
        # The instructions are sent as they are, never parsed as Markdown.
        chunks = split_chunk(Chunk(f"{title}\n\n{current.instructions}"), CLASSIC_LIMIT)
        dest = destination(message, reply=True)
        for index, chunk in enumerate(chunks):
            await services.sender.send_chunk(dest, chunk, reply=index == 0)
        return
    if await _refuse_unless_allowed(message, services, bot, lang):
        return
    if text.lower() == "reset":
        change = await services.chat_settings.reset_instructions(key)
        await _say(
            message,
            services,
            texts.text(lang, "prompt_reset" if change is Change.CHANGED else "prompt_not_set"),
        )
        return
    change = await services.chat_settings.set_instructions(key, text)
    if change is Change.TOO_LONG:
        line = texts.text(lang, "instructions_too_long", length=len(text), limit=MAX_INSTRUCTIONS_CHARS)
    else:
        line = texts.text(lang, "prompt_set" if change is Change.CHANGED else "prompt_unchanged")
    await _say(message, services, line)


async def settings_button(query: CallbackQuery, services: BotServices, bot: Bot) -> None:
    lang = language(query.from_user)
    message = query.message
    if not isinstance(message, Message) or query.data is None:
        await query.answer(_toast(texts.text(lang, "settings_panel_gone")), show_alert=True)
        return
    action = parse_action(query.data, services.chat_settings.policy)
    if action is None:
        log.warning("unknown settings callback data")
        await query.answer(_toast(texts.text(lang, "settings_unknown")), show_alert=True)
        return
    if isinstance(action, ModelAction) and action.option is None:
        models = ", ".join(o.name for o in services.chat_settings.policy.models)
        await query.answer(_toast(texts.text(lang, "model_unavailable", models=models)), show_alert=True)
        return
    if isinstance(action, WebSearchAction) and not services.chat_settings.policy.web_search_offered:
        await query.answer(_toast(texts.text(lang, "web_disabled")), show_alert=True)
        return
    if not await may_administer(bot, services.access, message, query.from_user.id):
        await query.answer(_toast(texts.text(lang, "settings_admins_only")), show_alert=True)
        return
    key = pressed_key(message, services.group_context, query.from_user.id)
    change, line = await _apply(action, key, services, lang)
    await query.answer(_toast(line))
    if change is not Change.CHANGED:
        return
    settings = await services.chat_settings.current(key)
    chunk, keyboard = _panel(settings, services, message, lang, status=line)
    await services.sender.edit_chunk(
        destination(message, reply=False), message.message_id, chunk, markup=keyboard
    )


async def _apply(
    action: ModelAction | FormatAction | WebSearchAction,
    key: ConversationKey,
    services: BotServices,
    lang: Language,
) -> tuple[Change, str]:
    settings = services.chat_settings
    if isinstance(action, ModelAction):
        assert action.option is not None
        change = await settings.choose_model(key, action.option.model)
        if change is Change.CHANGED:
            return change, texts.text(lang, "model_switched", name=action.option.name)
        return change, texts.text(lang, "settings_unchanged")
    if isinstance(action, FormatAction):
        change = await settings.choose_format(key, action.reply_format)
        return change, _format_line(change, action.reply_format, lang)
    change = await settings.choose_web_search(key, action.enabled)
    return change, _web_line(change, action.enabled, lang)


def _format_line(change: Change, reply_format: ReplyFormat, lang: Language) -> str:
    if change is not Change.CHANGED:
        return texts.text(lang, "settings_unchanged")
    return texts.text(lang, "format_set_rich" if reply_format is ReplyFormat.RICH else "format_set_classic")


def _web_line(change: Change, enabled: bool, lang: Language) -> str:
    if change is Change.WEB_SEARCH_DISABLED:
        return texts.text(lang, "web_disabled")
    if change is not Change.CHANGED:
        return texts.text(lang, "settings_unchanged")
    return texts.text(lang, "web_set_on" if enabled else "web_set_off")


def setup() -> Router:
    router = Router(name="settings")
    router.message.register(show_settings, Command("settings"))
    router.message.register(model_command, Command("model"))
    router.message.register(format_command, Command("format"))
    router.message.register(websearch_command, Command("websearch"))
    router.message.register(prompt_command, Command("prompt"))
    router.callback_query.register(settings_button, InLoop(F.data.startswith(CALLBACK_PREFIX)))
    return router
