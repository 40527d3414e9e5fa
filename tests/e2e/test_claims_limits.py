"""README "Limits and behaviour" and "Configuration": MAX_QUEUED_PER_CHAT and its polite note in a private
chat, and token budgets that refuse the next question but never cut an answer already running. End to
end: the real bot against the Telegram fake and the Yandex emulator, real Redis."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import Stack, final_texts

BOT = "@test_assistant_bot"
QUEUE_FULL = "I'm still answering your previous messages. Please wait a moment and send this again."


def asked(stack: Stack) -> list[str]:
    return [r["input_text"].split("\n", 1)[-1].split(" emu:")[0] for r in stack.yandex.responses(limit=100)]


def completed(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in stack.yandex.responses(limit=100) if r["status"] == "completed"]


async def test_a_full_private_queue_gets_one_polite_note_and_the_queued_ones_are_answered_in_order(
    stack: Stack,
) -> None:
    user = await stack.telegram.create_user("Alice", language_code="en")
    chat_id = int((await stack.telegram.create_private_chat(user))["id"])
    async with stack.bot(max_queued_per_chat=2, reply_format="classic"):
        await stack.telegram.send_user_message(chat_id, user, "q1 emu:slow=40 emu:long=400")
        await stack.telegram.wait_for(lambda: asked(stack) == ["q1"])
        for number in range(2, 6):
            await stack.telegram.send_user_message(chat_id, user, f"q{number} emu:echo")
        await stack.telegram.wait_for(lambda: QUEUE_FULL in final_texts(stack.telegram, chat_id))
        await stack.telegram.wait_for(lambda: len(completed(stack)) == 3, timeout=30)
        await stack.telegram.wait_for(
            lambda: (
                len(final_texts(stack.telegram, chat_id)) == 4
                and all(m["reply_markup"] is None for m in stack.telegram.bot_messages(chat_id))
            ),
            timeout=20,
        )
        await stack.telegram.send_user_message(chat_id, user, "q6 emu:echo")  # room again
        await stack.telegram.wait_for(lambda: len(completed(stack)) == 4, timeout=20)
    assert asked(stack) == ["q1", "q2", "q3", "q6"], "two waited, in order; q4 and q5 were refused"
    assert final_texts(stack.telegram, chat_id).count(QUEUE_FULL) == 1, "one note for two refused"


async def test_a_spent_budget_refuses_the_next_question_but_never_cuts_a_running_answer(stack: Stack) -> None:
    ann = await stack.telegram.create_user("Ann", language_code="en")
    group = (await stack.telegram.create_group("Team", supergroup=True, members=[ann]))["id"]
    own_chat = int((await stack.telegram.create_private_chat(ann))["id"])
    stack.yandex.config.chars_per_second = 2000
    async with stack.bot(user_daily_tokens=50, reply_format="classic"):
        # A long answer runs in the group while a short one in Ann's private chat spends her budget.
        await stack.telegram.send_user_message(group, ann, f"{BOT} the long one emu:slow=30 emu:long=1500")
        await stack.telegram.wait_for(lambda: asked(stack) == ["the long one"])
        await stack.telegram.send_user_message(own_chat, ann, "a short one emu:long=400")
        await stack.telegram.wait_for(lambda: len(completed(stack)) == 1)
        assert stack.yandex.responses()[0]["status"] == "in_progress", "the long answer is still running"
        await stack.telegram.wait_for(
            lambda: stack.yandex.responses()[0]["status"] != "in_progress", timeout=30
        )
        long_answer = stack.yandex.responses()[0]
        assert long_answer["status"] == "completed", "the running answer was cut"
        assert long_answer["client_disconnected_at"] is None, "the running answer's stream was not cut"
        await stack.telegram.wait_for(
            lambda: all(m["reply_markup"] is None for m in stack.telegram.bot_messages(group)), timeout=20
        )
        await stack.telegram.send_user_message(own_chat, ann, "one more")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, own_chat)) == 2)
    answer = " ".join(final_texts(stack.telegram, group)[1:])  # after the greeting on being added
    assert " ".join(answer.split()) == " ".join(long_answer["output_text"].split()), "delivered whole"
    assert final_texts(stack.telegram, own_chat)[1] == (
        "You've used today's budget of 50 tokens. It renews at 00:00 UTC."
    )
    assert len(stack.yandex.responses()) == 2, "no model call once the budget is spent"


async def test_different_chats_are_answered_in_parallel(stack: Stack) -> None:
    ann = await stack.telegram.create_user("Ann", language_code="en")
    bob = await stack.telegram.create_user("Bob", language_code="en")
    anns_chat = int((await stack.telegram.create_private_chat(ann))["id"])
    bobs_chat = int((await stack.telegram.create_private_chat(bob))["id"])
    async with stack.bot(reply_format="classic"):
        await stack.telegram.send_user_message(anns_chat, ann, "a long one emu:slow=50 emu:long=800")
        await stack.telegram.wait_for(lambda: asked(stack) == ["a long one"])
        await stack.telegram.send_user_message(bobs_chat, bob, "a short one emu:echo")
        await stack.telegram.wait_for(lambda: bool(final_texts(stack.telegram, bobs_chat)))
        anns_answer = stack.yandex.responses()[0]
        assert anns_answer["status"] == "in_progress", "Bob was answered while Ann's answer was running"
        await stack.telegram.wait_for(lambda: len(completed(stack)) == 2, timeout=30)
