"""`python -m bench.baselines.naive`: wait for the whole answer, then send it in one message.

The seed documents' simple loop, for Telegram: one non-streaming Chat Completions request per
question, then `sendMessage` with the complete text. Nothing is shown while the model writes.
"""

from __future__ import annotations

import functools
import sys

from aiogram import Bot
from aiogram.types import Message
from openai import AsyncOpenAI

from bench.baselines.common import BaselineSettings, deliver, parts, question_messages, reply_to, run


async def answer(message: Message, bot: Bot, client: AsyncOpenAI, settings: BaselineSettings) -> None:
    completion = await client.chat.completions.create(
        model=settings.model_uri,
        messages=question_messages(message),
    )
    text = completion.choices[0].message.content or ""
    for index, part in enumerate(parts(text)):
        send = functools.partial(
            bot.send_message,
            message.chat.id,
            part,
            reply_parameters=reply_to(message) if index == 0 else None,
        )
        await deliver(send)


if __name__ == "__main__":
    sys.exit(run(answer))
