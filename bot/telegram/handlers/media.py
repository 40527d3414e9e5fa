"""Voice notes, audio files, photos and image documents: checked here, answered in the chat's lane.

Private chats: every one. Groups: those addressed to the bot — a caption that mentions it (or starts
with /ask), or a reply to one of its messages; an album counts as addressed when any part is.
Handlers translate and check limits (each refusal names its limit); downloading, transcribing and
answering happen in the answer job (bot.telegram.media, bot.telegram.answers).
"""

from __future__ import annotations

import re
from dataclasses import replace

from aiogram import Bot, F, Router
from aiogram.types import Message, User

from bot.core.models import Notice, Question
from bot.telegram import texts
from bot.telegram.documents import human_size
from bot.telegram.filters import InLoop, is_reply_to_bot, strip_mentions
from bot.telegram.mappers import author_of, conversation_key, destination, is_group, language
from bot.telegram.media import (
    JobMedia,
    audio_ref,
    image_ref,
    image_size_of,
    is_image_message,
    notice_values,
    refusal_notice,
    speech_refusal,
)
from bot.telegram.replies import reply_context
from bot.telegram.services import BotServices

_ASK_PREFIX = re.compile(r"^/ask(@\w+)?\b", re.IGNORECASE)


def _addressed_caption(message: Message, me: User) -> tuple[bool, str]:
    """(addressed to the bot?, the caption without the mention or /ask). Private chats: always."""
    mentioned, caption = strip_mentions(message, me)
    asked = _ASK_PREFIX.match(caption)
    if asked:
        caption = caption[asked.end() :].strip()
    addressed = not is_group(message) or mentioned or bool(asked) or is_reply_to_bot(message, me)
    return addressed, caption


def _question(message: Message, services: BotServices, text: str) -> Question:
    return Question(
        key=conversation_key(message, services.group_context),
        text=text,
        language=language(message.from_user),
        author=author_of(message) if is_group(message) else None,
    )


async def _notify(message: Message, services: BotServices, notice: Notice, **values: object) -> None:
    dest = destination(message, reply=True)
    await services.answers.notify(dest, language(message.from_user), notice, **values)


async def voice_message(message: Message, services: BotServices, bot: Bot) -> None:
    me = await bot.me()
    addressed, caption = _addressed_caption(message, me)
    if not addressed:
        return
    settings = services.media
    if not settings.speech_enabled:
        await _notify(message, services, Notice.SPEECH_DISABLED)
        return
    recording = audio_ref(message)
    refusal = speech_refusal(recording, settings)
    if refusal is not None:
        await _notify(message, services, refusal_notice(refusal), **notice_values(settings))
        return
    context = reply_context(message, me, settings)
    question = replace(_question(message, services, caption), refers_to=context.reference)
    media = replace(context.media, voice=recording)
    asker = message.from_user.id if message.from_user else None
    dest = destination(message, reply=is_group(message))
    await services.answers.ask(question, dest, asker, message.message_id, media=media)


async def image_message(message: Message, services: BotServices, bot: Bot) -> None:
    me = await bot.me()
    addressed, _ = _addressed_caption(message, me)
    if message.media_group_id:

        async def ask_about_album(parts: list[Message], album_addressed: bool) -> None:
            if album_addressed:
                await _ask_about_images(parts, services, me)

        services.albums.add(message.chat.id, message.media_group_id, message, addressed, ask_about_album)
        return
    if addressed:
        await _ask_about_images([message], services, me)


async def _ask_about_images(parts: list[Message], services: BotServices, me: User) -> None:
    """One question about the images of a message or an album; the caption (on any part) asks it."""
    first = next((part for part in parts if part.caption), parts[0])
    settings = services.media
    if not settings.vision_enabled:
        await _notify(first, services, Notice.IMAGES_DISABLED)
        return
    images = []
    for part in parts:
        image = image_ref(part, settings.max_image_bytes)
        if image is None:
            size = human_size(image_size_of(part))
            await _notify(first, services, Notice.IMAGE_TOO_BIG, size=size, **notice_values(settings))
            return
        images.append(image)
    _, caption = _addressed_caption(first, me)
    lang = language(first.from_user)
    text = caption or texts.text(lang, "describe_image")
    context = reply_context(first, me, settings)
    question = replace(_question(first, services, text), refers_to=context.reference)
    asker = first.from_user.id if first.from_user else None
    dest = destination(first, reply=is_group(first))
    await services.answers.ask(question, dest, asker, first.message_id, media=JobMedia(images=tuple(images)))


async def _for_vision(message: Message, services: BotServices) -> bool:
    """Photos always (without a vision model they get "not enabled"); image documents only when a
    vision model reads them — otherwise they stay documents, refused for their type as before."""
    if message.photo:
        return True
    return services.media.vision_enabled and is_image_message(message)


def setup() -> Router:
    router = Router(name="media")
    router.message.register(voice_message, InLoop(F.voice | F.audio))
    router.message.register(image_message, _for_vision)
    return router
