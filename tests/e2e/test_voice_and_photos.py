"""Voice notes, audio files and photos end to end: the Telegram fake serves the files, the Yandex
emulator "hears" audio whose bytes are text and describes images with their decoded size."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import Stack, final_texts

BOT = "@test_assistant_bot"
FAST_STT = {"stt_poll_seconds": 0.05}
RICH = {"reply_format": "rich"}  # the user's view as Markdown: the heard part is a "> 🎤 …" quote
VISION = {"vision_model": "gemma-3-27b-it/latest", **FAST_STT}
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 64  # 16 KiB of "photo"
PNG = b"\x89PNG\r\n\x1a\n" + b"png pixels " * 100


async def private_chat(stack: Stack, language: str = "en") -> tuple[dict[str, Any], int]:
    user = await stack.telegram.create_user("Alice", username="alice", language_code=language)
    chat = await stack.telegram.create_private_chat(user)
    return user, chat["id"]


async def wait_final(stack: Stack, chat_id: int, count: int = 1, timeout: float = 20.0) -> list[str]:
    await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) >= count, timeout=timeout)
    return final_texts(stack.telegram, chat_id)


def completed_responses(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in stack.yandex.responses(limit=200) if r["status"] == "completed"]


async def settled(stack: Stack, chat_id: int, count: int) -> list[str]:
    """The user's final view once `count` answers are delivered and no Stop button is left."""
    await stack.telegram.wait_for(
        lambda: (
            len(final_texts(stack.telegram, chat_id)) >= count
            and all(m["reply_markup"] is None for m in stack.telegram.bot_messages(chat_id))
        ),
        timeout=20,
    )
    return final_texts(stack.telegram, chat_id)


# --- voice ---------------------------------------------------------------------------------------------


async def test_a_voice_note_is_transcribed_shown_and_answered(stack: Stack) -> None:
    async with stack.bot(**FAST_STT, **RICH):
        user, chat_id = await private_chat(stack)
        spoken = "What is the tallest mountain in Europe?"
        await stack.telegram.send_user_message(chat_id, user, voice={"content": spoken, "duration": 3})
        [text] = await wait_final(stack, chat_id)
        # The transcript in the model's input, not the audio; the question is exactly what was heard.
        response = completed_responses(stack)[-1]
        assert response["input_text"] == spoken
        assert response["input"][-1] == {"role": "user", "text": spoken}
        # The user sees what was heard, quoted, above the answer to it.
        heard, answer = text.split("\n\n", 1)
        assert heard.startswith("> 🎤 ") and spoken.rstrip("?") in heard
        assert answer.strip() == response["output_text"].strip()
        [request] = stack.yandex.stt_requests()
        assert request["api"] == "stt:recognize"
        assert (request["lang"], request["folder"], request["size"]) == ("auto", stack.folder_id, len(spoken))
        # The transcript goes into the conversation: the next question sees it in the chain's history.
        await stack.telegram.send_user_message(chat_id, user, "/history")
        await stack.telegram.wait_for(
            lambda: any(m["document"] for m in stack.telegram.bot_messages(chat_id)), timeout=10
        )
        await stack.telegram.send_user_message(chat_id, user, "And the second? emu:history")
        texts = await wait_final(stack, chat_id, count=3)
    assert "history=2" in texts[-1]
    assert stack.telegram.violations() == []


async def test_a_45_second_voice_note_takes_the_asynchronous_recognition(stack: Stack) -> None:
    async with stack.bot(**FAST_STT, **RICH):
        user, chat_id = await private_chat(stack)
        # emu:seconds=45 makes the emulator refuse it synchronously, as SpeechKit refuses audio over 30 s.
        spoken = "emu:seconds=45 Please summarise the plan. First we build. Then we test."
        await stack.telegram.send_user_message(chat_id, user, voice={"content": spoken, "duration": 45})
        [text] = await wait_final(stack, chat_id)
    [request] = stack.yandex.stt_requests()
    assert request["api"] == "recognizeFileAsync" and request["status"] == 200
    assert request["format"] == "OGG_OPUS" and request["size"] == len(spoken)
    assert request["folder"] == stack.folder_id
    # The same credentials and privacy header as every Yandex request, for each call of the operation.
    calls = [r for r in stack.yandex.requests(limit=100) if not r["path"].startswith("/v1/")]
    assert {r["path"].split("/")[1] for r in calls} == {"stt", "operations"}
    assert all(r["status"] == 200 and r["headers"].get("x-data-logging-enabled") == "false" for r in calls)
    heard = "Please summarise the plan. First we build. Then we test."
    assert completed_responses(stack)[-1]["input_text"] == heard
    assert text.startswith(f"> 🎤 {heard}")


async def test_an_empty_voice_note_gets_no_words_and_no_answer(stack: Stack) -> None:
    async with stack.bot(**FAST_STT):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, voice={"size": 3000, "duration": 2})
        await stack.telegram.send_user_message(chat_id, user, voice={"content": b"", "duration": 0})
        texts = await wait_final(stack, chat_id, count=2)
    assert all(t.startswith("I couldn't make out any words") for t in texts)
    assert stack.yandex.responses() == []  # nothing was asked of the model
    assert len(stack.yandex.stt_requests()) == 2


async def test_recordings_beyond_the_limits_get_a_clear_message(stack: Stack) -> None:
    async with stack.bot(stt_max_duration_seconds=120, **FAST_STT):
        user, chat_id = await private_chat(stack, language="ru")
        await stack.telegram.send_user_message(chat_id, user, voice={"size": 100_000, "duration": 121})
        flac = {"content": b"fLaC", "duration": 10, "file_name": "talk.flac", "mime_type": "audio/flac"}
        await stack.telegram.send_user_message(chat_id, user, audio=flac)
        huge = {"size": 21 * 1024 * 1024, "duration": 100, "mime_type": "audio/mpeg", "file_name": "a.mp3"}
        await stack.telegram.send_user_message(chat_id, user, audio=huge)
        texts = await wait_final(stack, chat_id, count=3)
    assert texts[0] == "Запись слишком длинная: я распознаю записи длиной до 2:00 (мин:сек)."
    assert texts[1] == "Не могу распознать этот аудиоформат. Поддерживаются: OGG Opus, MP3, WAV."
    assert texts[2] == "Запись слишком большая: Telegram даёт мне скачивать файлы до 20.0 MB."
    assert stack.yandex.stt_requests() == []


async def test_mp3_audio_files_use_asynchronous_recognition(stack: Stack) -> None:
    async with stack.bot(**FAST_STT):
        user, chat_id = await private_chat(stack)
        mp3 = {
            "content": "How long is a marathon?",
            "duration": 8,
            "file_name": "q.mp3",
            "mime_type": "audio/mpeg",
        }
        await stack.telegram.send_user_message(chat_id, user, audio=mp3)
        [text] = await wait_final(stack, chat_id)
    [request] = stack.yandex.stt_requests()
    assert (request["api"], request["format"]) == ("recognizeFileAsync", "MP3")
    assert "How long is a marathon?" in text
    assert completed_responses(stack)[-1]["input_text"] == "How long is a marathon?"


async def test_speech_recognition_faults_are_retried_then_explained(stack: Stack) -> None:
    # The breaker (five failures in a row by default) would otherwise refuse the third recording.
    async with stack.bot(provider_breaker_failures=10, **FAST_STT, **RICH):
        user, chat_id = await private_chat(stack)
        stack.yandex.inject_faults(1, 503, ["/speech/v1/stt:recognize"])
        await stack.telegram.send_user_message(chat_id, user, voice={"content": "first try", "duration": 1})
        await wait_final(stack, chat_id)
        stack.yandex.inject_faults(5, 503, ["/speech/v1/stt:recognize"])
        await stack.telegram.send_user_message(chat_id, user, voice={"content": "second try", "duration": 1})
        await wait_final(stack, chat_id, count=2)
        # Three attempts per recording: two of the five faults are left for the next one, which then
        # succeeds on its third attempt.
        await stack.telegram.send_user_message(chat_id, user, voice={"content": "third try", "duration": 1})
        texts = await wait_final(stack, chat_id, count=3)
    assert texts[0].startswith("> 🎤 first try")
    assert texts[1] == "The assistant is temporarily unavailable. Please try again a bit later."
    assert texts[2].startswith("> 🎤 third try")
    # Faulted requests never reach the handler, so only the successful ones are listed.
    assert [r["text"] for r in stack.yandex.stt_requests()] == ["first try", "third try"]


async def test_voice_messages_can_be_switched_off(stack: Stack) -> None:
    async with stack.bot(stt_enabled=False):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, voice={"content": "hello", "duration": 1})
        [text] = await wait_final(stack, chat_id)
    assert text == "Voice messages are not enabled for this bot. Please write your question as text."
    assert stack.yandex.stt_requests() == []


async def test_a_voice_reply_to_the_bot_in_a_group_is_answered_in_its_thread(stack: Stack) -> None:
    async with stack.bot(reply_format="classic", **FAST_STT):
        ann = await stack.telegram.create_user("Ann", username="ann")
        bob = await stack.telegram.create_user("Bob", username="bob")
        chat = await stack.telegram.create_group("Team", forum=True, members=[ann, bob])
        chat_id = chat["id"]
        topic = await stack.telegram.create_topic(chat_id, "Trips", by=ann)
        await stack.telegram.send_user_message(
            chat_id, ann, f"{BOT} plan a weekend trip", message_thread_id=topic
        )
        await stack.telegram.wait_for(lambda: len(completed_responses(stack)) == 1, timeout=20)
        await settled(stack, chat_id, 2)  # the greeting on being added, and the answer
        answer = stack.telegram.bot_messages(chat_id)[-1]
        assert answer["message_thread_id"] == topic
        # An unaddressed voice note in the group is not transcribed.
        await stack.telegram.send_user_message(
            chat_id, bob, voice={"content": "just chatting", "duration": 1}, message_thread_id=topic
        )
        voice = await stack.telegram.send_user_message(
            chat_id,
            bob,
            voice={"content": "What about the budget?", "duration": 2},
            reply_to_message_id=answer["message_id"],
        )
        await stack.telegram.wait_for(lambda: len(completed_responses(stack)) == 2, timeout=20)
        texts = await settled(stack, chat_id, 3)
    reply = stack.telegram.bot_messages(chat_id)[-1]
    assert reply["reply_to_message_id"] == voice["message_id"]
    assert reply["message_thread_id"] == topic
    assert texts[-1].startswith("🎤 What about the budget?")  # classic: the quote is a blockquote entity
    question = completed_responses(stack)[-1]
    assert (
        question["input_text"] == "⟦author: Bob⟧\nWhat about the budget?"
    )  # the bot's own answer is in the chain
    assert [r["text"] for r in stack.yandex.stt_requests()] == ["What about the budget?"]


# --- photos --------------------------------------------------------------------------------------------


async def test_a_photo_is_answered_by_the_vision_model_and_the_follow_up_knows_it(stack: Stack) -> None:
    async with stack.bot(**VISION):
        user, chat_id = await private_chat(stack)
        photo = await stack.telegram.send_user_message(
            chat_id,
            user,
            photo={"content": JPEG, "width": 1600, "height": 1200},
            caption="What breed is this dog?",
        )
        [first] = await wait_final(stack, chat_id)
        # The size the bot picked: the smallest whose longer side reaches Gemma's 896 px.
        chosen = next(size for size in photo["photo"] if size["width"] == 1280)
        vision = stack.yandex.responses()[-1]
        assert vision["api"] == "chat.completions" and vision["status"] == "completed"
        assert [image["bytes"] for image in vision["images"]] == [chosen["file_size"]]
        assert vision["input"][-1]["text"] == "What breed is this dog?"
        assert f"bytes={chosen['file_size']}" in first and "What breed is this dog?" in first
        await stack.telegram.send_user_message(chat_id, user, "And how big does it grow?")
        texts = await wait_final(stack, chat_id, count=2)
    follow_up = stack.yandex.responses()[-1]
    assert follow_up["api"] == "responses" and follow_up["input_text"] == "And how big does it grow?"
    carried = [item["text"] for item in follow_up["input"]]
    assert any("What breed is this dog?" in text for text in carried[:-1])
    assert any(f"bytes={chosen['file_size']}" in text for text in carried[:-1])
    assert texts[1] == follow_up["output_text"]


async def test_an_album_is_one_question_and_image_documents_are_read_too(stack: Stack) -> None:
    async with stack.bot(**VISION):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_media_group(
            chat_id,
            user,
            photos=[
                {"content": JPEG, "width": 640, "height": 480},
                {"size": 9000, "width": 480, "height": 640},
            ],
            caption="Which of these is brighter?",
        )
        await wait_final(stack, chat_id)
        document = {"file_name": "chart.png", "mime_type": "image/png", "content": PNG}
        await stack.telegram.send_user_message(chat_id, user, document=document)
        texts = await wait_final(stack, chat_id, count=2)
    album, chart = [r for r in stack.yandex.responses() if r["api"] == "chat.completions"]
    assert [image["bytes"] for image in album["images"]] == [len(JPEG), 9000]
    assert album["input"][-1]["text"] == "Which of these is brighter?"
    assert "I see 2 images" in texts[0]
    assert chart["images"] == [
        {"mime_type": "image/png", "bytes": len(PNG), "fingerprint": chart["images"][0]["fingerprint"]}
    ]
    assert chart["input"][-1]["text"] == "Describe what is in the image."
    assert f"PNG picture, bytes={len(PNG)}" in texts[1]
    assert stack.yandex.vector_stores() == []  # an image is not indexed as a document


async def test_without_a_vision_model_photos_get_a_clear_message(stack: Stack) -> None:
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(
            chat_id, user, photo={"content": JPEG, "width": 800, "height": 600}
        )
        [text] = await wait_final(stack, chat_id)
    assert text == "Reading images is not enabled for this bot. Please describe what you need in text."
    assert stack.yandex.responses() == []


async def test_images_over_the_size_limit_are_refused_with_the_limit(stack: Stack) -> None:
    async with stack.bot(max_image_mb=0.01, **VISION):
        user, chat_id = await private_chat(stack)
        document = {"file_name": "scan.png", "mime_type": "image/png", "size": 50_000}
        await stack.telegram.send_user_message(chat_id, user, document=document)
        [text] = await wait_final(stack, chat_id)
    assert text == "That image is too large (48.8 KB); I read images of up to 10.2 KB."
    assert stack.yandex.responses() == []


async def test_photos_in_groups_are_answered_when_addressed(stack: Stack) -> None:
    async with stack.bot(reply_format="classic", **VISION):
        ann = await stack.telegram.create_user("Ann", username="ann")
        chat = await stack.telegram.create_group("Team", supergroup=True, members=[ann])
        chat_id = chat["id"]
        await stack.telegram.send_user_message(
            chat_id, ann, photo={"content": JPEG, "width": 300, "height": 200}
        )
        asked = await stack.telegram.send_user_message(
            chat_id,
            ann,
            photo={"content": JPEG, "width": 300, "height": 200},
            caption=f"{BOT} what is on it?",
        )
        await stack.telegram.wait_for(lambda: len(completed_responses(stack)) == 1, timeout=20)
        await settled(stack, chat_id, 2)  # the greeting on being added, and the answer
    [vision] = stack.yandex.responses()
    assert vision["input"][-1]["text"] == "⟦author: Ann⟧\nwhat is on it?"
    reply = stack.telegram.bot_messages(chat_id)[-1]
    assert reply["reply_to_message_id"] == asked["message_id"]
    assert f"bytes={len(JPEG)}" in (reply["text"] or "")


# --- the same machinery as text ----------------------------------------------------------------------------


async def test_stop_ends_an_image_answer_and_what_was_shown_is_remembered(stack: Stack) -> None:
    async with stack.bot(**VISION):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(
            chat_id,
            user,
            photo={"content": JPEG, "width": 800, "height": 600},
            caption="Tell me everything emu:slow=40 emu:long=3000",
        )
        await stack.telegram.wait_for(lambda: len(stack.telegram.drafts(chat_id)) >= 2)
        draft = stack.telegram.drafts(chat_id)[-1]
        assert draft["can_stop"]
        await stack.telegram.press_stop(chat_id, draft["draft_id"])
        [stopped] = await wait_final(stack, chat_id)
        assert stopped.endswith("Stopped.")
        await stack.telegram.wait_for(
            lambda: stack.yandex.responses()[-1]["status"] == "incomplete", timeout=10
        )
        await stack.telegram.send_user_message(chat_id, user, "Go on")
        await wait_final(stack, chat_id, count=2)
    follow_up = stack.yandex.responses()[-1]
    carried = [item["text"] for item in follow_up["input"][:-1]]
    assert carried[0].startswith("[photo-") and carried[0].endswith(
        "Tell me everything emu:slow=40 emu:long=3000"
    )
    assert carried[1] and stopped.startswith(carried[1][:40])  # the part the user saw


async def test_budgets_apply_before_anything_is_transcribed(stack: Stack) -> None:
    async with stack.bot(user_daily_tokens=5, reply_format="classic", **FAST_STT):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, "first question")
        await wait_final(stack, chat_id)
        await stack.telegram.send_user_message(
            chat_id, user, voice={"content": "second question", "duration": 2}
        )
        texts = await wait_final(stack, chat_id, count=2)
    assert texts[1] == "You've used today's budget of 5 tokens. It renews at 00:00 UTC."
    assert stack.yandex.stt_requests() == []


async def test_voice_answers_in_groups_stay_within_the_groups_rate_budget(stack: Stack) -> None:
    async with stack.bot(reply_format="classic", **FAST_STT):
        ann = await stack.telegram.create_user("Ann", username="ann")
        chat = await stack.telegram.create_group("Team", supergroup=True, members=[ann])
        for number in range(4):
            await stack.telegram.send_user_message(
                chat["id"], ann, voice={"content": f"question {number}", "duration": 2}, caption=BOT
            )
        await stack.telegram.wait_for(lambda: len(completed_responses(stack)) == 4, timeout=40)
        texts = await settled(stack, chat["id"], 5)
    assert [t.split("\n", 1)[0] for t in texts[1:]] == [f"🎤 question {number}" for number in range(4)]
    assert stack.telegram.violations() == []


async def test_vision_model_failures_are_retried_then_explained(stack: Stack) -> None:
    async with stack.bot(**VISION):
        user, chat_id = await private_chat(stack)
        photo = {"content": JPEG, "width": 800, "height": 600}
        stack.yandex.inject_faults(2, 503, ["/v1/chat/completions"])
        await stack.telegram.send_user_message(chat_id, user, photo=photo, caption="first")
        await wait_final(stack, chat_id)
        stack.yandex.inject_faults(3, 429, ["/v1/chat/completions"])
        await stack.telegram.send_user_message(chat_id, user, photo=photo, caption="second")
        texts = await wait_final(stack, chat_id, count=2)
    assert "bytes=" in texts[0]  # answered on the third attempt
    assert texts[1] == "The assistant is overloaded right now. Please try again in a minute."
