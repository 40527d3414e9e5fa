"""Private chats: commands, questions, and a polite word about content the bot cannot read.

Handlers only translate: Telegram message → core values → one service call.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message

from bot.core.models import Question
from bot.telegram import texts
from bot.telegram.filters import InLoop
from bot.telegram.history import transcript_markdown
from bot.telegram.mappers import conversation_key, destination, language
from bot.telegram.replies import ReplyContext, reply_context
from bot.telegram.services import BotServices


async def _reply(message: Message, services: BotServices, markdown: str) -> None:
    await services.sender.send_markdown(destination(message, reply=False), markdown, reply=False)


async def start(message: Message, services: BotServices) -> None:
    await _reply(message, services, texts.text(language(message.from_user), "start"))


async def help_command(message: Message, services: BotServices) -> None:
    await _reply(message, services, texts.text(language(message.from_user), "help"))


async def new_conversation(message: Message, services: BotServices) -> None:
    await services.conversations.reset(conversation_key(message))
    await _reply(message, services, texts.text(language(message.from_user), "new"))


async def history(message: Message, services: BotServices) -> None:
    """The conversation's transcript as a Markdown document (private chats and groups alike)."""
    lang = language(message.from_user)
    turns = await services.conversations.transcript(conversation_key(message, services.group_context))
    if not turns:
        await _reply(message, services, texts.text(lang, "history_empty"))
        return
    document = transcript_markdown(turns, lang).encode("utf-8")
    caption = texts.text(lang, "history_caption", turns=len(turns))
    await services.sender.send_document(
        destination(message, reply=True), "conversation.md", document, caption=caption
    )


async def unknown_command(message: Message, services: BotServices) -> None:
    await _reply(message, services, texts.text(language(message.from_user), "unknown_command"))


async def ask(
    message: Message, services: BotServices, bot: Bot, text: str | None = None, *, with_reply: bool = True
) -> None:
    """`with_reply`: the message it replies to is what the question refers to (not when that message
    is itself the question, as with a bare /ask)."""
    context = reply_context(message, await bot.me(), services.media) if with_reply else ReplyContext()
    question = Question(
        key=conversation_key(message),
        text=message.text or "" if text is None else text,
        language=language(message.from_user),
        refers_to=context.reference,
    )
    asker = message.from_user.id if message.from_user else None
    dest = destination(message, reply=False)
    await services.answers.ask(question, dest, asker, message.message_id, media=context.media or None)


async def ask_command(message: Message, command: CommandObject, services: BotServices, bot: Bot) -> None:
    """/ask in a private chat (it is in the command menu): the words after it, or the replied message."""
    text = (command.args or "").strip()
    quoted_question = False
    if not text and message.reply_to_message is not None:
        text = (message.reply_to_message.text or message.reply_to_message.caption or "").strip()
        quoted_question = True
    if not text:
        await _reply(message, services, texts.text(language(message.from_user), "ask_usage"))
        return
    await ask(message, services, bot, text, with_reply=not quoted_question)


async def unsupported(message: Message, services: BotServices) -> None:
    await _reply(message, services, texts.text(language(message.from_user), "unsupported_content"))


def setup() -> Router:
    router = Router(name="private")
    router.message.filter(InLoop(F.chat.type == ChatType.PRIVATE))
    router.message.register(start, CommandStart())
    router.message.register(help_command, Command("help"))
    router.message.register(new_conversation, Command("new"))
    router.message.register(history, Command("history"))
    router.message.register(ask_command, Command("ask"))
    router.message.register(unknown_command, InLoop(F.text.startswith("/")))
    router.message.register(ask, InLoop(F.text))
    router.message.register(unsupported)
    return router
