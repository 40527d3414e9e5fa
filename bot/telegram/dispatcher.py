"""Assembles the router tree and the bot's command menu."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.types import BotCommand, BotCommandScopeDefault

from bot.telegram.handlers import documents, errors, fallback, groups, media, private, settings, stop, usage
from bot.telegram.middlewares import (
    AccessMiddleware,
    CallbackGuardMiddleware,
    ChatOrderMiddleware,
    CorrelationMiddleware,
)
from bot.telegram.services import BotServices

COMMANDS: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("ask", "Ask a question"),
        ("new", "Start a fresh conversation"),
        ("history", "Get this conversation as a file"),
        ("docs", "Documents I know in this chat"),
        ("forget", "Delete all documents of this chat"),
        ("usage", "Tokens used today"),
        ("settings", "Model, reply format, web search"),
        ("prompt", "This chat's instructions"),
        ("help", "What the bot can do"),
    ],
    "ru": [
        ("ask", "Задать вопрос"),
        ("new", "Начать новый разговор"),
        ("history", "Получить разговор файлом"),
        ("docs", "Документы этого чата"),
        ("forget", "Удалить все документы чата"),
        ("usage", "Расход токенов сегодня"),
        ("settings", "Модель, формат, поиск в интернете"),
        ("prompt", "Инструкции этого чата"),
        ("help", "Что умеет бот"),
    ],
}


def build_dispatcher(services: BotServices) -> Dispatcher:
    dispatcher = Dispatcher(services=services)
    dispatcher.update.outer_middleware(CorrelationMiddleware())
    dispatcher.update.outer_middleware(ChatOrderMiddleware())
    dispatcher.update.outer_middleware(AccessMiddleware())  # every kind of update, not just messages
    dispatcher.callback_query.outer_middleware(CallbackGuardMiddleware())
    # Feature routers first; `fallback` answers the button presses none of them claimed.
    dispatcher.include_routers(
        stop.setup(),
        usage.setup(),
        media.setup(),
        settings.setup(),
        documents.setup(),
        groups.setup(),
        private.setup(),
        errors.setup(),
        fallback.setup(),
    )
    return dispatcher


async def register_commands(bot: Bot) -> None:
    """setMyCommands in English (the default) and Russian."""
    for lang, commands in COMMANDS.items():
        await bot.set_my_commands(
            [BotCommand(command=name, description=description) for name, description in commands],
            scope=BotCommandScopeDefault(),
            language_code=None if lang == "en" else lang,
        )
