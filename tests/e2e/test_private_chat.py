"""Private chats end to end: real aiogram polling the Telegram fake, real openai client against the
Yandex emulator, real Redis. Assertions read what a user would see (the fake's messages and drafts)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import re
import time
from typing import Any

import pytest

from tests.e2e.harness import Stack, final_texts


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


async def private_chat(stack: Stack, language: str = "en") -> tuple[dict[str, Any], int]:
    user = await stack.telegram.create_user("Alice", username="alice", language_code=language)
    chat = await stack.telegram.create_private_chat(user)
    return user, chat["id"]


async def wait_final(stack: Stack, chat_id: int, count: int = 1, timeout: float = 15.0) -> list[str]:
    await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) >= count, timeout=timeout)
    return final_texts(stack.telegram, chat_id)


def history_document(stack: Stack, chat_id: int) -> str:
    """The text of the /history document the bot sent last in the chat."""
    document = stack.telegram.bot_messages(chat_id)[-1]["document"]
    assert document is not None and document["file_name"] == "conversation.md"
    return str(stack.telegram.controller.state.files[document["file_id"]].read().decode())


def quoted(turn: str) -> str:
    """A /history turn's text (its block quote under the header), whitespace squashed."""
    return squash(" ".join(line.removeprefix(">") for line in turn.splitlines()[1:]))


def answers(stack: Stack) -> list[dict[str, Any]]:
    return stack.yandex.responses(limit=100)


def completed(stack: Stack, question: str) -> bool:
    return any(r["input_text"] == question and r["status"] == "completed" for r in answers(stack))


async def test_answer_streams_into_drafts_and_ends_as_the_models_exact_text(stack: Stack) -> None:
    stack.yandex.config.chars_per_second = 400
    async with stack.bot(reply_format="rich"):
        user, chat_id = await private_chat(stack)
        sent_at = time.time()
        await stack.telegram.send_user_message(chat_id, user, "Tell me about the sea emu:long=600")
        texts = await wait_final(stack, chat_id)

    response = answers(stack)[-1]
    assert texts == [response["output_text"]]  # rich mode: the model's Markdown, untouched
    drafts = stack.telegram.drafts(chat_id)
    assert len(drafts) >= 3, "the answer should grow in front of the user"
    assert all(d["can_stop"] for d in drafts)
    assert len({d["draft_id"] for d in drafts}) == 1
    shown = [d["rich_markdown"] or d["text"] for d in drafts]
    assert all(response["output_text"].startswith(s) for s in shown)
    assert shown == sorted(shown, key=len)
    assert drafts[0]["at"] - sent_at < 1.5
    actions = stack.telegram.chat_actions(chat_id)
    assert actions and actions[0]["action"] == "typing", "a typing indicator"
    assert actions[0]["at"] <= drafts[0]["at"], "typing is shown before the first draft"
    assert stack.telegram.violations() == []


async def test_first_visible_text_follows_the_first_model_delta_closely(stack: Stack) -> None:
    stack.yandex.config.chars_per_second = 400
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        for question in ("warm-up question", "the measured question emu:long=300"):
            await stack.telegram.send_user_message(chat_id, user, question)
            await stack.telegram.wait_for(functools.partial(completed, stack, question))
            await asyncio.sleep(1.0)  # the chat's draft budget refills between questions
        await wait_final(stack, chat_id, count=2)
    measured = answers(stack)[-1]
    drafts = stack.telegram.drafts(chat_id)
    first_draft = min(d["at"] for d in drafts if d["at"] >= measured["first_delta_at"])
    # Loopback, a busy CI machine: generous here; the benchmark measures the real figure.
    assert first_draft - measured["first_delta_at"] < 0.5


async def test_conversation_continues_across_a_bot_restart_and_new_starts_fresh(stack: Stack) -> None:
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, "first emu:history")
        assert "history=1" in (await wait_final(stack, chat_id))[-1]
    async with stack.bot():
        await stack.telegram.send_user_message(chat_id, user, "second emu:history")
        assert "history=2" in (await wait_final(stack, chat_id, count=2))[-1]
        await stack.telegram.send_user_message(chat_id, user, "/new")
        await wait_final(stack, chat_id, count=3)
        await stack.telegram.send_user_message(chat_id, user, "third emu:history")
        assert "history=1" in (await wait_final(stack, chat_id, count=4))[-1]
    # Commands never reach the model.
    assert all(not r["input_text"].startswith("/") for r in answers(stack))


async def test_lost_provider_context_is_rebuilt_from_the_transcript(stack: Stack) -> None:
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, "remember the word: heron")
        await wait_final(stack, chat_id)
        stack.yandex.expire(answers(stack)[-1]["id"])
        await stack.telegram.send_user_message(chat_id, user, "what was it? emu:history")
        texts = await wait_final(stack, chat_id, count=2)
    assert "history=2" in texts[-1]
    assert stack.telegram.violations() == []


@pytest.mark.parametrize("reply_format", ["rich", "classic"])
async def test_a_9000_character_answer_is_delivered_whole(stack: Stack, reply_format: str) -> None:
    stack.yandex.config.chars_per_second = 20_000
    async with stack.bot(reply_format=reply_format):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, "write a lot emu:long=9000")
        response_done = lambda: any(r["status"] == "completed" for r in answers(stack))  # noqa: E731
        await stack.telegram.wait_for(response_done)
        expected = answers(stack)[-1]["output_text"]
        parts = 1 if reply_format == "rich" else 3
        texts = await wait_final(stack, chat_id, count=parts)
        await stack.telegram.wait_for(
            lambda: squash(" ".join(final_texts(stack.telegram, chat_id))) == squash(expected)
        )
    if reply_format == "classic":
        assert all(len(t.encode("utf-16-le")) // 2 <= 4096 for t in texts)
        assert all(t.rstrip().endswith((".", "!", "?")) for t in texts), "split on sentence boundaries"
    else:
        assert texts == [expected]
    assert stack.telegram.violations() == []


async def test_a_429_during_streaming_does_not_lose_the_final_text(stack: Stack) -> None:
    stack.yandex.config.chars_per_second = 300
    async with stack.bot(reply_format="rich"):
        user, chat_id = await private_chat(stack)
        stack.telegram.fail_next(
            "sendRichMessageDraft",
            1,
            error_code=429,
            description="Too Many Requests: retry after 1",
            retry_after=1,
        )
        stack.telegram.fail_next(
            "sendRichMessage",
            1,
            error_code=429,
            description="Too Many Requests: retry after 1",
            retry_after=1,
        )
        await stack.telegram.send_user_message(chat_id, user, "something long emu:long=400")
        texts = await wait_final(stack, chat_id)
    assert texts == [answers(stack)[-1]["output_text"]]
    rich_calls = stack.telegram.calls("sendRichMessage")
    assert [c["ok"] for c in rich_calls] == [False, True]
    assert rich_calls[1]["at"] - rich_calls[0]["at"] >= 1.0, "retry_after is honoured"


async def test_provider_errors_before_streaming_are_retried_then_explained(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        user, chat_id = await private_chat(stack)
        stack.yandex.inject_faults(count=1, status=503, paths=["/v1/responses"])
        await stack.telegram.send_user_message(chat_id, user, "a transient failure")
        texts = await wait_final(stack, chat_id)
        assert texts[-1] == answers(stack)[-1]["output_text"]

        await stack.telegram.send_user_message(chat_id, user, "always failing emu:fail=503")
        texts = await wait_final(stack, chat_id, count=2)
        assert texts[-1] == "The assistant is temporarily unavailable. Please try again a bit later."

        await stack.telegram.send_user_message(chat_id, user, "bad request emu:fail=400")
        texts = await wait_final(stack, chat_id, count=3)
        assert "could not process" in texts[-1]
    # The failing question reached the provider once per attempt (3, as the README says),
    # and every attempt failed with the 503: none was answered behind the notice's back.
    failing = [r for r in answers(stack) if "emu:fail=503" in r["input_text"]]
    assert len(failing) == 3
    assert [(r["status"], r["error"]["http_status"]) for r in failing] == [("failed", 503)] * 3
    assert not any("Traceback" in t or "Error" in t for t in final_texts(stack.telegram, chat_id))


async def test_a_stream_failing_midway_keeps_the_partial_answer_with_a_note(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        user, chat_id = await private_chat(stack, language="ru")
        await stack.telegram.send_user_message(chat_id, user, "break please emu:long=300 emu:fail_mid")
        texts = await wait_final(stack, chat_id)
        partial, note = texts[-1].rsplit("\n\n", 1)
        assert note == "Ответ прервался из-за ошибки. Спросите ещё раз, чтобы продолжить."
        assert len(partial) > 10
        # The bot keeps serving, and the interrupted exchange is part of the context.
        await stack.telegram.send_user_message(chat_id, user, "next emu:history")
        texts = await wait_final(stack, chat_id, count=2)
        assert "history=2" in texts[-1]


async def test_stop_button_ends_streaming_within_a_second_and_keeps_what_was_shown(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """Stop closes the stream (Yandex cancels only background responses: no cancel is sent, nothing
    is refused), the user sees the stopped answer and no error notice, and nothing is logged as an error."""
    caplog.set_level(logging.INFO)
    async with stack.bot(reply_format="rich"):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, "long story emu:slow=40 emu:long=3000")
        await stack.telegram.wait_for(lambda: len(stack.telegram.drafts(chat_id)) >= 2)
        draft = stack.telegram.drafts(chat_id)[-1]
        pressed_at = time.time()
        await stack.telegram.press_stop(chat_id, draft["draft_id"])
        texts = await wait_final(stack, chat_id, timeout=5)
        final = stack.telegram.bot_messages(chat_id)[-1]
        assert final["sent_at"] - pressed_at < 1.0
        shown = stack.telegram.drafts(chat_id)[-1]["rich_markdown"]
        assert texts[-1].startswith(shown.rstrip())
        assert texts[-1].endswith("_Stopped._")
        await stack.telegram.wait_for(
            lambda: answers(stack)[-1]["client_disconnected_at"] is not None, timeout=10
        )
        await stack.telegram.wait_for(lambda: answers(stack)[-1]["status"] == "incomplete", timeout=10)
        assert answers(stack)[-1]["client_disconnected_at"] - pressed_at < 1.0, (
            "the stream was closed at once"
        )
        # The shown part is remembered, marked as interrupted.
        await stack.telegram.send_user_message(chat_id, user, "/history")
        await stack.telegram.wait_for(
            lambda: stack.telegram.bot_messages(chat_id)[-1]["document"] is not None
        )
        history = history_document(stack, chat_id)
        turns = history.split("\n## ")[1:]
        assert [turn.split(" — ")[0] for turn in turns] == ["You", "Assistant"]
        assert turns[1].splitlines()[0].endswith("(interrupted)")
        assert quoted(turns[1]) == squash(shown), "exactly the part the user saw"
    assert len(answers(stack)) == 1 and answers(stack)[0]["error"] is None
    assert len(final_texts(stack.telegram, chat_id)) == 2, "the stopped answer and /history: no notice"
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def test_two_quick_messages_are_answered_in_order(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, "first question emu:echo")
        await stack.telegram.send_user_message(chat_id, user, "second question emu:echo")
        texts = await wait_final(stack, chat_id, count=2)
    assert "first question" in texts[0]
    assert "second question" in texts[1]
    first, second = sorted(answers(stack), key=lambda r: r["started_at"])[-2:]
    assert first["completed_at"] <= second["started_at"], "one answer per chat at a time"


async def test_drafts_refused_by_an_older_server_fall_back_to_edits(stack: Stack) -> None:
    stack.telegram.config.drafts_supported = False
    stack.yandex.config.chars_per_second = 300
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, "tell me emu:long=500")
        await stack.telegram.wait_for(lambda: any(r["status"] == "completed" for r in answers(stack)))
        expected = answers(stack)[-1]["output_text"]
        await stack.telegram.wait_for(lambda: final_texts(stack.telegram, chat_id) == [expected])
    message = stack.telegram.bot_messages(chat_id)[0]
    assert len(message["versions"]) >= 2, "the reply was edited progressively"
    assert stack.telegram.violations() == []


async def test_rich_messages_refused_fall_back_to_classic(stack: Stack) -> None:
    stack.telegram.config.rich_supported = False
    async with stack.bot(reply_format="rich"):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, "**bold** question emu:echo")
        texts = await wait_final(stack, chat_id)
    message = stack.telegram.bot_messages(chat_id)[-1]
    assert message["rich_markdown"] is None
    assert "question" in texts[-1]


async def test_commands_help_history_and_unsupported_content(stack: Stack) -> None:
    async with stack.bot():
        user, chat_id = await private_chat(stack, language="ru")
        await stack.telegram.send_user_message(chat_id, user, "/start")
        await stack.telegram.send_user_message(chat_id, user, "/help")
        texts = await wait_final(stack, chat_id, count=2)
        assert texts[0].startswith("Привет!")
        assert "/new" in texts[1] and "/history" in texts[1]

        await stack.telegram.send_user_message(chat_id, user, "/history")
        texts = await wait_final(stack, chat_id, count=3)
        assert texts[-1] == "В этом разговоре пока ничего нет."

        await stack.telegram.send_user_message(chat_id, user, "what is 2+2? emu:echo")
        await wait_final(stack, chat_id, count=4)
        await stack.telegram.send_user_message(chat_id, user, "/history")
        await stack.telegram.wait_for(
            lambda: stack.telegram.bot_messages(chat_id)[-1]["document"] is not None
        )
        history = history_document(stack, chat_id)
        turns = history.split("\n## ")[1:]
        assert [turn.split(" — ")[0] for turn in turns] == ["Вы", "Ассистент"]
        assert quoted(turns[0]) == "what is 2+2? emu:echo"
        assert quoted(turns[1]) == squash(answers(stack)[-1]["output_text"])

        await stack.telegram.send_user_message(chat_id, user, sticker=True)
        await stack.telegram.send_user_message(chat_id, user, "/nonsense")
        texts = await wait_final(stack, chat_id, count=7)
        # Two quick replies that are not answers: they may arrive in either order.
        last_two = texts[-2:]
        assert "Я не знаю такой команды. Смотрите /help." in last_two
        assert any(t.startswith("Я понимаю текст, документы, голосовые и фото") for t in last_two)
    commands = stack.telegram.calls("setMyCommands")
    assert {c["params"].get("language_code") for c in commands} == {None, "ru"}
    assert all(not r["input_text"].startswith("/") for r in answers(stack))


async def test_empty_and_oversized_questions_get_a_clear_answer(stack: Stack) -> None:
    async with stack.bot(max_question_chars=500):
        user, chat_id = await private_chat(stack)
        # Telegram sends no empty text: a question with no words is /ask on its own.
        await stack.telegram.send_user_message(chat_id, user, "/ask")
        await wait_final(stack, chat_id)
        await stack.telegram.send_user_message(chat_id, user, "x" * 600)
        texts = await wait_final(stack, chat_id, count=2)
    assert texts == [
        "Write your question after the command, e.g. /ask What is a vector store? — or reply to a message with /ask.",
        "That message is too long (600 characters, at most 500). Please shorten it.",
    ]
    assert answers(stack) == []


async def test_allowlists_refuse_politely_once(stack: Stack) -> None:
    async with stack.bot(allowed_user_ids="999"):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, "hello?")
        texts = await wait_final(stack, chat_id)
        assert texts == ["Sorry, this bot is private. Ask its owner for access."]
        await stack.telegram.send_user_message(chat_id, user, "hello again?")
        insider = await stack.telegram.create_user("Bob", user_id=999)
        insider_chat = (await stack.telegram.create_private_chat(insider))["id"]
        await stack.telegram.send_user_message(insider_chat, insider, "I am allowed emu:echo")
        await wait_final(stack, insider_chat)
    assert final_texts(stack.telegram, chat_id) == texts, "at most one refusal per chat per hour"
    assert [r["input_text"] for r in answers(stack)] == ["I am allowed emu:echo"]


async def test_edit_mode_streams_into_one_message_with_a_stop_button(stack: Stack) -> None:
    stack.yandex.config.chars_per_second = 300
    async with stack.bot(private_streaming="edit"):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, "tell me emu:long=600")
        await stack.telegram.wait_for(lambda: any(r["status"] == "completed" for r in answers(stack)))
        expected = answers(stack)[-1]["output_text"]
        await stack.telegram.wait_for(lambda: final_texts(stack.telegram, chat_id) == [expected])
        await stack.telegram.wait_for(lambda: stack.telegram.bot_messages(chat_id)[0]["reply_markup"] is None)
    message = stack.telegram.bot_messages(chat_id)[0]
    assert len(message["versions"]) >= 3
    assert message["versions"][0]["reply_markup"] is not None, "Stop button while streaming"
    assert stack.telegram.drafts(chat_id) == []
    assert stack.telegram.violations() == []


async def test_an_idle_draft_is_kept_alive(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.telegram.streaming.DRAFT_KEEPALIVE_S", 0.4)
    async with stack.bot(reply_format="rich"):
        user, chat_id = await private_chat(stack)
        # Words arrive 1.5 s apart: longer than the keep-alive interval.
        await stack.telegram.send_user_message(chat_id, user, "slowly emu:slow=1500 emu:long=40")
        await wait_final(stack, chat_id, timeout=30)
    frames = [d["rich_markdown"] for d in stack.telegram.drafts(chat_id)]
    repeats = sum(1 for a, b in itertools.pairwise(frames) if a == b)
    assert repeats >= 2, "the same text was re-sent while the model was silent"
    assert stack.telegram.violations() == []


async def test_an_unexpected_failure_gets_a_short_message_and_the_bot_keeps_serving(
    stack: Stack, redis_client: Any
) -> None:
    async with stack.bot(reply_format="classic"):
        user, chat_id = await private_chat(stack)
        # Corrupted state in Redis: the answer job cannot even start.
        await redis_client.set(f"yab:{stack.telegram.config.bot_id}:kb:{chat_id}:t0", b"{not json")
        await stack.telegram.send_user_message(chat_id, user, "are you there?")
        texts = await wait_final(stack, chat_id)
        assert texts == ["Something went wrong on my side. Please try again."]
        await redis_client.delete(f"yab:{stack.telegram.config.bot_id}:kb:{chat_id}:t0")
        await stack.telegram.send_user_message(chat_id, user, "and now? emu:echo")
        texts = await wait_final(stack, chat_id, count=2)
    assert "and now?" in texts[-1]
    assert not any("Traceback" in t or "ValidationError" in t for t in texts)
