"""README "Operations", budgets: an answer already running is never cut when its asker's budget runs
out meanwhile; only the next question is refused."""

from __future__ import annotations

import asyncio

from tests.e2e.harness import Stack, final_texts

BOT = "@test_assistant_bot"


async def test_a_running_answer_is_never_cut_when_the_budget_runs_out_meanwhile(stack: Stack) -> None:
    async with stack.bot(user_daily_tokens=20, reply_format="classic"):
        ann = await stack.telegram.create_user("Ann", language_code="en")
        chat_id = (await stack.telegram.create_private_chat(ann))["id"]
        team = (await stack.telegram.create_group("Team", supergroup=True, members=[ann]))["id"]
        await stack.telegram.wait_for(lambda: bool(stack.telegram.bot_messages(team)))  # the greeting

        def group_answers() -> list[str]:
            return [m["text"] or "" for m in stack.telegram.bot_messages(team) if m["reply_to_message_id"]]

        # A long answer starts in the group while the budget is untouched ...
        await stack.telegram.send_user_message(team, ann, f"{BOT} long one emu:echo emu:slow=40 emu:long=800")
        await stack.telegram.wait_for(lambda: bool(group_answers()), timeout=20)
        # ... and a short one in private spends the whole budget before the long one ends.
        await stack.telegram.send_user_message(chat_id, ann, "short one emu:echo")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 1, timeout=20)
        assert any(r["status"] == "in_progress" for r in stack.yandex.responses()), "the long one still runs"
        await stack.telegram.wait_for(
            lambda: any(
                r["status"] == "completed" and "long one" in r["input_text"] for r in stack.yandex.responses()
            ),
            timeout=30,
        )
        await asyncio.sleep(1.0)  # its final text
        await stack.telegram.send_user_message(chat_id, ann, "one more emu:echo")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 2, timeout=20)
    long_answer = next(r for r in stack.yandex.responses() if "long one" in r["input_text"])
    assert long_answer["status"] == "completed"
    assert len(group_answers()) == 1
    assert " ".join(group_answers()[0].split()) == " ".join(str(long_answer["output_text"]).split()), "whole"
    assert final_texts(stack.telegram, chat_id)[1] == (
        "You've used today's budget of 20 tokens. It renews at 00:00 UTC."
    )
    assert len(stack.yandex.responses()) == 2, "the refused question never reached the model"
