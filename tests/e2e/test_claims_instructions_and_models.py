"""README "Configuration" (ASSISTANT_INSTRUCTIONS) and "Models" (a fine-tuned model only gets a warning at
start), end to end: the real bot against the Telegram fake and the Yandex emulator."""

from __future__ import annotations

import logging

import pytest

from bot.core.authors import with_author_note
from tests.e2e.harness import Stack, final_texts

BOT = "@test_assistant_bot"
OPERATORS = "Answer in one short paragraph."


async def test_the_operators_instructions_go_with_every_request_and_a_chats_own_replace_them(
    stack: Stack,
) -> None:
    ann = await stack.telegram.create_user("Ann", language_code="en")
    chat_id = int((await stack.telegram.create_private_chat(ann))["id"])
    group = (await stack.telegram.create_group("Team", supergroup=True, members=[ann]))["id"]
    async with stack.bot(assistant_instructions=OPERATORS, reply_format="classic"):
        for number, question in enumerate(("first", "second"), start=1):
            await stack.telegram.send_user_message(chat_id, ann, question)
            await stack.telegram.wait_for(lambda n=number: len(final_texts(stack.telegram, chat_id)) == n)  # type: ignore[misc]
        await stack.telegram.send_user_message(group, ann, f"{BOT} in the group")
        await stack.telegram.wait_for(lambda: len(stack.yandex.responses()) == 3)
        await stack.telegram.send_user_message(chat_id, ann, "/prompt Answer like a pirate.")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 3)
        await stack.telegram.send_user_message(chat_id, ann, "third")
        await stack.telegram.wait_for(lambda: len(stack.yandex.responses()) == 4)
    sent = [r["instructions"] for r in stack.yandex.responses()]
    expected = with_author_note(OPERATORS)
    assert sent == [expected, expected, expected, with_author_note("Answer like a pirate.")]


async def test_a_fine_tuned_model_missing_from_the_list_only_gets_a_warning(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    fine_tuned = f"gpt://{stack.folder_id}/yandexgpt-lite/latest@my-suffix"
    caplog.set_level(logging.WARNING)
    async with stack.bot(yc_model=fine_tuned) as app:
        assert app.serving.is_set()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"YC_MODEL {fine_tuned} is not listed by GET /v1/models; trying it anyway (fine-tuned)" in warnings
