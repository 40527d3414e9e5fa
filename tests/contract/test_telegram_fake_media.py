"""Contract: voice notes, audio files, photos (sizes, albums), quotes, forwards and other bots' messages
that users post through the control API reach aiogram in Bot API shape, and their files download
through getFile (with its 20 MB limit)."""

from __future__ import annotations

import io

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import MessageOriginHiddenUser, MessageOriginUser

from tests.fakes.telegram.errors import ControlError
from tests.fakes.telegram.server import TelegramFake

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40


async def download(bot: Bot, file_id: str) -> bytes:
    file = await bot.get_file(file_id)
    assert file.file_path is not None
    buffer = io.BytesIO()
    await bot.download_file(file.file_path, destination=buffer)
    return buffer.getvalue()


async def test_voice_notes_and_audio_files(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user = await telegram_fake.create_user("Ann")
    chat = await telegram_fake.create_private_chat(user)
    await telegram_fake.send_user_message(
        chat["id"], user, voice={"content": "what is the weather", "duration": 3}, caption="listen"
    )
    await telegram_fake.send_user_message(
        chat["id"],
        user,
        audio={
            "content": b"ID3 song",
            "duration": 215,
            "file_name": "song.mp3",
            "mime_type": "audio/mpeg",
            "performer": "Band",
            "title": "Song",
        },
    )
    await telegram_fake.send_user_message(chat["id"], user, voice={"size": 4096, "duration": 45})
    voice, audio, silent = [u.message for u in await tg_bot.get_updates() if u.message]
    assert voice.voice is not None
    assert (voice.voice.duration, voice.voice.mime_type, voice.voice.file_size) == (3, "audio/ogg", 19)
    assert voice.caption == "listen"
    file = await tg_bot.get_file(voice.voice.file_id)
    assert (
        file.file_path is not None and file.file_path.startswith("voice/") and file.file_path.endswith(".oga")
    )
    assert await download(tg_bot, voice.voice.file_id) == b"what is the weather"
    assert audio.audio is not None
    assert (audio.audio.duration, audio.audio.file_name, audio.audio.mime_type) == (
        215,
        "song.mp3",
        "audio/mpeg",
    )
    assert (audio.audio.performer, audio.audio.title) == ("Band", "Song")
    assert await download(tg_bot, audio.audio.file_id) == b"ID3 song"
    assert silent.voice is not None and silent.voice.duration == 45
    assert await download(tg_bot, silent.voice.file_id) == b"\0" * 4096


async def test_photos_come_in_sizes_smallest_first(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user = await telegram_fake.create_user("Ann")
    chat = await telegram_fake.create_private_chat(user)
    sent = await telegram_fake.send_user_message(
        chat["id"], user, photo={"content": JPEG, "width": 1600, "height": 1200}, caption="what is it?"
    )
    [update] = await tg_bot.get_updates()
    message = update.message
    assert message is not None and message.photo is not None and message.caption == "what is it?"
    sides = [(size.width, size.height) for size in message.photo]
    assert sides == [(90, 68), (320, 240), (800, 600), (1280, 960), (1600, 1200)]
    assert len({size.file_id for size in message.photo}) == len(message.photo)
    sizes = [size.file_size or 0 for size in message.photo]
    assert sizes == sorted(sizes) and sizes[-1] == len(JPEG)
    assert await download(tg_bot, message.photo[-1].file_id) == JPEG
    thumbnail = await download(tg_bot, message.photo[1].file_id)
    assert thumbnail.startswith(b"\xff\xd8\xff") and len(thumbnail) == message.photo[1].file_size
    assert sent["photo"][-1]["file_id"] == message.photo[-1].file_id


async def test_photo_limits_follow_the_bot_api(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user = await telegram_fake.create_user("Ann")
    chat = await telegram_fake.create_private_chat(user)
    for photo in (
        {"content": JPEG, "width": 9000, "height": 1500},  # width + height > 10000
        {"content": JPEG, "width": 2100, "height": 100},  # ratio > 20
        {"size": 11 * 1024 * 1024, "width": 800, "height": 600},  # > 10 MB
        {"content": b"\x89PNG not jpeg", "width": 800, "height": 600},  # Telegram keeps photos as JPEG
        {"content": JPEG},
    ):
        with pytest.raises(ControlError):
            await telegram_fake.send_user_message(chat["id"], user, photo=photo)
    small = await telegram_fake.send_user_message(
        chat["id"], user, photo={"size": 5000, "width": 300, "height": 200}
    )
    assert [(s["width"], s["height"]) for s in small["photo"]] == [(90, 60), (300, 200)]
    assert small["photo"][-1]["file_size"] == 5000


async def test_big_files_are_refused_by_get_file(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user = await telegram_fake.create_user("Ann")
    chat = await telegram_fake.create_private_chat(user)
    sent = await telegram_fake.send_user_message(
        chat["id"], user, audio={"size": 21 * 1024 * 1024, "duration": 3600, "mime_type": "audio/mpeg"}
    )
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await tg_bot.get_file(sent["audio"]["file_id"])


async def test_photo_albums(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user = await telegram_fake.create_user("Ann")
    chat = await telegram_fake.create_private_chat(user)
    album = await telegram_fake.send_media_group(
        chat["id"],
        user,
        photos=[{"content": JPEG, "width": 640, "height": 480}, {"size": 3000, "width": 480, "height": 640}],
        caption="compare these",
    )
    messages = [u.message for u in await tg_bot.get_updates() if u.message]
    assert len(messages) == 2 and len({m.media_group_id for m in messages}) == 1
    assert messages[0].caption == "compare these" and messages[1].caption is None
    assert all(m.photo for m in messages)
    assert [m["message_id"] for m in album] == [m.message_id for m in messages]
    with pytest.raises(ControlError):
        await telegram_fake.send_media_group(chat["id"], user, photos=[{"size": 10, "width": 1, "height": 1}])
    with pytest.raises(ControlError):
        await telegram_fake.send_media_group(
            chat["id"], user, [{"file_name": "a.txt", "content": b"a"}] * 2, photos=[{"size": 10}] * 2
        )


async def test_quotes_forwards_and_other_bots(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    ann = await telegram_fake.create_user("Ann")
    bob = await telegram_fake.create_user("Bob")
    helper = await telegram_fake.create_user("Helper", username="helper_bot", is_bot=True)
    chat = await telegram_fake.create_group("Team", supergroup=True, members=[ann, bob, helper])
    original = await telegram_fake.send_user_message(
        chat["id"], bob, "😅 The release moves to Friday, sorry team"
    )
    quoted = await telegram_fake.send_user_message(
        chat["id"], ann, "why?", reply_to_message_id=original["message_id"], quote="sorry team"
    )
    assert quoted["quote"] == {"text": "sorry team", "position": 32, "is_manual": True}
    with pytest.raises(ControlError):
        await telegram_fake.send_user_message(
            chat["id"], ann, "x", reply_to_message_id=original["message_id"], quote="not in it"
        )
    with pytest.raises(ControlError):
        await telegram_fake.send_user_message(chat["id"], ann, "x", quote="Friday")
    forwarded = await telegram_fake.send_user_message(
        chat["id"], ann, "Look at this", forward_origin={"type": "user", "sender_user_id": bob["id"]}
    )
    hidden = await telegram_fake.send_user_message(
        chat["id"], ann, "And this", forward_origin={"type": "hidden_user", "sender_user_name": "Carol"}
    )
    by_bot = await telegram_fake.send_user_message(chat["id"], helper, "Build #12 passed")
    messages = {u.message.message_id: u.message for u in await tg_bot.get_updates() if u.message}
    reply = messages[quoted["message_id"]]
    assert reply.quote is not None and reply.quote.text == "sorry team" and reply.quote.position == 32
    assert reply.reply_to_message is not None and reply.reply_to_message.text == original["text"]
    origin = messages[forwarded["message_id"]].forward_origin
    assert isinstance(origin, MessageOriginUser) and origin.sender_user.first_name == "Bob"
    origin_hidden = messages[hidden["message_id"]].forward_origin
    assert isinstance(origin_hidden, MessageOriginHiddenUser) and origin_hidden.sender_user_name == "Carol"
    author = messages[by_bot["message_id"]].from_user
    assert author is not None and author.is_bot and author.username == "helper_bot"


async def test_media_over_the_control_http_api(telegram_fake: TelegramFake) -> None:
    user = await telegram_fake.create_user("Ann")
    chat = await telegram_fake.create_private_chat(user)
    async with aiohttp.ClientSession() as http:
        url = f"{telegram_fake.base_url}/__control/chats/{chat['id']}/messages"
        body = {"user_id": user["id"], "voice": {"content": "hello", "duration": 1}}
        async with http.post(url, json=body) as response:
            assert (await response.json())["voice"]["file_size"] == 5
        body = {"user_id": user["id"], "photo": {"size": 2000, "width": 100, "height": 80}, "caption": "hi"}
        async with http.post(url, json=body) as response:
            assert len((await response.json())["photo"]) == 2
        albums = f"{telegram_fake.base_url}/__control/chats/{chat['id']}/media_groups"
        body = {"user_id": user["id"], "photos": [{"size": 900, "width": 10, "height": 10}] * 3}
        async with http.post(albums, json=body) as response:
            assert len(await response.json()) == 3
