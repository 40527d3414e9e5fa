"""`python -m bench.baselines.edit_every_n`: the common "edit after every N new characters" streamer.

A streaming Chat Completions request; the first text goes out in a message, then the message is edited
with the whole text so far each time N more characters (`EDIT_EVERY_CHARS`, default 100) have arrived,
and once more with the final text. No rate-limit awareness: an intermediate send or edit that fails
(429 included) is skipped and tried again N characters later; only the final text waits for
`retry after`. Answers longer than one message are out of its scope (the benchmark's are short).
"""

from __future__ import annotations

import contextlib
import functools
import sys

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message
from openai import AsyncOpenAI

from bench.baselines.common import (
    TELEGRAM_TEXT_LIMIT,
    BaselineSettings,
    deliver,
    question_messages,
    reply_to,
    run,
)


async def answer(message: Message, bot: Bot, client: AsyncOpenAI, settings: BaselineSettings) -> None:
    chat_id = message.chat.id
    stream = await client.chat.completions.create(
        model=settings.model_uri,
        messages=question_messages(message),
        stream=True,
    )
    text = ""
    sent: Message | None = None
    attempted_at = 0  # length of the text at the last send/edit attempt
    async for chunk in stream:
        if not chunk.choices:
            continue
        text += chunk.choices[0].delta.content or ""
        if not text.strip() or (attempted_at and len(text) - attempted_at < settings.edit_every_chars):
            continue
        attempted_at = len(text)
        shown = text[:TELEGRAM_TEXT_LIMIT]
        with contextlib.suppress(TelegramAPIError):
            if sent is None:
                sent = await bot.send_message(chat_id, shown, reply_parameters=reply_to(message))
            else:
                await bot.edit_message_text(text=shown, chat_id=chat_id, message_id=sent.message_id)
    final = text[:TELEGRAM_TEXT_LIMIT]
    if sent is None:
        await deliver(functools.partial(bot.send_message, chat_id, final, reply_parameters=reply_to(message)))
    elif attempted_at != len(text):
        await deliver(
            functools.partial(bot.edit_message_text, text=final, chat_id=chat_id, message_id=sent.message_id)
        )


if __name__ == "__main__":
    sys.exit(run(answer))
