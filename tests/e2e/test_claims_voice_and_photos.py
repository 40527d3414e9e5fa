"""README "Voice messages, photos and replies" and its settings: what tests/e2e/test_voice_and_photos.py
leaves out — a caption read before the transcript, a transcript over MAX_QUESTION_CHARS, STT_LANGUAGE,
and image documents without VISION_MODEL. End to end against the fakes (the emulator "hears" audio
whose bytes are text)."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import Stack, final_texts

FAST_STT = {"stt_poll_seconds": 0.05}
JPEG_PHOTO = {"content": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 16, "width": 640, "height": 480}
PNG = b"\x89PNG\r\n\x1a\n" + b"png pixels " * 100


async def private_chat(stack: Stack) -> tuple[dict[str, Any], int]:
    user = await stack.telegram.create_user("Alice", language_code="en")
    return user, int((await stack.telegram.create_private_chat(user))["id"])


async def wait_final(stack: Stack, chat_id: int, count: int = 1) -> list[str]:
    await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) >= count, timeout=20)
    return final_texts(stack.telegram, chat_id)


async def test_a_voice_notes_caption_is_read_before_its_transcript(stack: Stack) -> None:
    async with stack.bot(**FAST_STT, reply_format="classic"):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(
            chat_id,
            user,
            voice={"content": "the meeting moved to Friday", "duration": 2},
            caption="Translate:",
        )
        await wait_final(stack, chat_id)
    [response] = stack.yandex.responses()
    question = response["input_text"]
    assert "Translate:" in question and "the meeting moved to Friday" in question, question
    assert question.index("Translate:") < question.index("the meeting moved to Friday")


async def test_a_transcript_longer_than_max_question_chars_is_refused_like_a_long_question(
    stack: Stack,
) -> None:
    spoken = "word " * 30  # 150 characters heard, 149 once whitespace is normalised
    async with stack.bot(**FAST_STT, max_question_chars=100, reply_format="classic"):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, voice={"content": spoken, "duration": 9})
        [text] = await wait_final(stack, chat_id)
    assert text == "That message is too long (149 characters, at most 100). Please shorten it."
    assert len(stack.yandex.stt_requests()) == 1, "it was heard"
    assert stack.yandex.responses() == [], "and not asked"


async def test_stt_language_is_the_recognition_language_sent_to_speechkit(stack: Stack) -> None:
    async with stack.bot(**FAST_STT, stt_language="KK-kz"):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, voice={"content": "сәлем", "duration": 1})
        await wait_final(stack, chat_id)
        long_one = {"content": "emu:seconds=45 a longer recording", "duration": 45}
        await stack.telegram.send_user_message(chat_id, user, voice=long_one)
        await wait_final(stack, chat_id, count=2)
    requests = stack.yandex.stt_requests()
    assert [r["api"] for r in requests] == ["stt:recognize", "recognizeFileAsync"]
    # Passed as written: SpeechKit reads codes case-insensitively (the emulator too, see its README).
    assert [r["lang"] for r in requests] == ["KK-kz", ["KK-kz"]]
    assert all(r["status"] == 200 for r in requests)


async def test_without_a_vision_model_an_image_document_stays_a_document_and_is_refused(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        user, chat_id = await private_chat(stack)
        document = {"file_name": "chart.png", "mime_type": "image/png", "content": PNG}
        await stack.telegram.send_user_message(chat_id, user, document=document)
        [text] = await wait_final(stack, chat_id)
    assert "chart.png" in text and "not supported" in text, text
    assert stack.yandex.responses() == [] and stack.yandex.vector_stores() == []


async def test_ogg_over_1_mb_and_wav_files_take_the_asynchronous_recognition(stack: Stack) -> None:
    async with stack.bot(**FAST_STT, reply_format="classic"):
        user, chat_id = await private_chat(stack)
        big = "Please read this. " * 62_000  # 1.1 MB of "audio" lasting 25 s: under 30 s, over 1 MB
        await stack.telegram.send_user_message(chat_id, user, voice={"content": big, "duration": 25})
        await wait_final(stack, chat_id)
        wav = {"content": "a wave file", "duration": 3, "file_name": "q.wav", "mime_type": "audio/wav"}
        await stack.telegram.send_user_message(chat_id, user, audio=wav)
        await wait_final(stack, chat_id, count=2)
    requests = stack.yandex.stt_requests()
    assert [(r["api"], r["format"], r["status"]) for r in requests] == [
        ("recognizeFileAsync", "OGG_OPUS", 200),
        ("recognizeFileAsync", "WAV", 200),
    ]
    assert requests[0]["size"] == len(big)


async def test_a_photo_without_a_size_of_896_px_within_max_image_mb_sends_the_largest_that_fits(
    stack: Stack,
) -> None:
    async with stack.bot(vision_model="gemma-3-27b-it/latest", max_image_mb=1, reply_format="classic"):
        user, chat_id = await private_chat(stack)
        photo = await stack.telegram.send_user_message(
            chat_id, user, photo={"size": 4_000_000, "width": 2000, "height": 1500}, caption="What is it?"
        )
        await wait_final(stack, chat_id)
    fitting = [size for size in photo["photo"] if size["file_size"] <= 1024 * 1024]
    assert all(max(size["width"], size["height"]) < 896 for size in fitting), "the premise of this test"
    largest = max(fitting, key=lambda size: size["width"] * size["height"])
    [vision] = stack.yandex.responses()
    assert [image["bytes"] for image in vision["images"]] == [largest["file_size"]]


async def test_a_group_album_is_answered_when_any_of_its_parts_mentions_the_bot(stack: Stack) -> None:
    bot = "@test_assistant_bot"
    ann = await stack.telegram.create_user("Ann", language_code="en")
    group = (await stack.telegram.create_group("Team", supergroup=True, members=[ann]))["id"]
    async with stack.bot(vision_model="gemma-3-27b-it/latest", reply_format="classic"):
        await stack.telegram.send_media_group(group, ann, photos=[JPEG_PHOTO, JPEG_PHOTO], caption="holiday")
        album = stack.telegram.controller.state.new_media_group_id()
        await stack.telegram.send_user_message(group, ann, photo=JPEG_PHOTO, media_group_id=album)
        await stack.telegram.send_user_message(
            group, ann, photo=JPEG_PHOTO, media_group_id=album, caption=f"{bot} which one is sharper?"
        )
        await stack.telegram.wait_for(lambda: len(stack.yandex.responses()) == 1, timeout=20)
        await stack.telegram.wait_for(
            lambda: (
                stack.yandex.responses()[0]["status"] == "completed"
                and all(m["reply_markup"] is None for m in stack.telegram.bot_messages(group))
            ),
            timeout=20,
        )
    [vision] = stack.yandex.responses()
    assert len(vision["images"]) == 2, "the addressed album, both of its photos"
    assert vision["input"][-1]["text"].endswith("which one is sharper?")


async def test_the_chat_shows_typing_while_a_recording_is_recognised(stack: Stack) -> None:
    async with stack.bot(**FAST_STT, reply_format="classic"):
        user, chat_id = await private_chat(stack)
        long_one = {"content": "emu:seconds=45 what is the plan for today", "duration": 45}
        await stack.telegram.send_user_message(chat_id, user, voice=long_one)
        await wait_final(stack, chat_id)
    [request] = stack.yandex.stt_requests()
    typing = [action["at"] for action in stack.telegram.chat_actions(chat_id) if action["action"] == "typing"]
    assert typing and min(typing) <= request["at"], "typing was shown before recognition started"
