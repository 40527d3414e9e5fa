"""README "Operations", budgets: an answer already running is never cut when its asker's budget runs
out meanwhile; stopped and broken answers count an estimate; a rollover's summary counts against the
chat (and in bot_context_rollovers_total)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import redis.asyncio as aioredis

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


async def usage(redis: aioredis.Redis, stack: Stack, scope: str, owner: int) -> tuple[int, bool]:
    """Today's counted tokens of a user or chat, and whether some are estimates."""
    prefix, day = f"yab:{stack.telegram.token.split(':')[0]}", time.strftime("%Y-%m-%d", time.gmtime())
    used = await redis.get(f"{prefix}:usage:{scope}:{owner}:{day}")
    approximate = await redis.exists(f"{prefix}:usage-approx:{scope}:{owner}:{day}")
    return int(used or 0), bool(approximate)


async def test_stopped_and_broken_answers_count_an_estimate(
    stack: Stack, redis_client: aioredis.Redis
) -> None:
    async with stack.bot(reply_format="classic"):
        ann = await stack.telegram.create_user("Ann", language_code="en")
        chat_id = (await stack.telegram.create_private_chat(ann))["id"]
        await stack.telegram.send_user_message(chat_id, ann, "long story emu:echo emu:slow=40 emu:long=3000")
        await stack.telegram.wait_for(lambda: len(stack.telegram.drafts(chat_id)) >= 2, timeout=20)
        await stack.telegram.press_stop(chat_id, stack.telegram.drafts(chat_id)[-1]["draft_id"])
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 1, timeout=10)
        await asyncio.sleep(0.5)  # counted just after the final text
        after_stop = await usage(redis_client, stack, "user", ann["id"])
        await stack.telegram.send_user_message(chat_id, ann, "then break emu:long=600 emu:fail_mid")
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 2, timeout=20)
        await asyncio.sleep(0.5)
        after_break = await usage(redis_client, stack, "user", ann["id"])
    assert final_texts(stack.telegram, chat_id)[0].endswith("Stopped."), "the answer was stopped"
    assert stack.yandex.responses()[0]["status"] == "incomplete", "Yandex reported no usage"
    assert after_stop[0] > 0 and after_stop[1], after_stop
    assert after_break[0] > after_stop[0] and after_break[1], (after_stop, after_break)


async def test_a_rollovers_summary_counts_against_the_chat_and_in_the_rollover_metric(
    stack: Stack, redis_client: aioredis.Redis
) -> None:
    """In a private chat the user and the chat count the same answers: only the summary, the chat's
    cost, makes the chat's count larger."""
    stack.yandex.config.context_tokens = 3000
    async with stack.bot(model_context_tokens=3000, reply_format="classic") as app:
        ann = await stack.telegram.create_user("Ann", language_code="en")
        chat_id = (await stack.telegram.create_private_chat(ann))["id"]

        def rollovers() -> float:
            sample = app.runtime.metrics.registry.get_sample_value(
                "bot_context_rollovers_total", {"reason": "background"}
            )
            return sample or 0.0

        def answered(count: int) -> Callable[[], bool]:
            return lambda: len(final_texts(stack.telegram, chat_id)) == count

        for number in range(1, 13):
            await stack.telegram.send_user_message(chat_id, ann, f"Question {number} emu:long=1000")
            await stack.telegram.wait_for(answered(number), timeout=60)
            if rollovers() >= 1:
                break
        await stack.telegram.wait_for(lambda: rollovers() == 1.0, timeout=30)
        await asyncio.sleep(0.5)
    user_used, _ = await usage(redis_client, stack, "user", ann["id"])
    chat_used, _ = await usage(redis_client, stack, "chat", chat_id)
    assert user_used > 0
    assert chat_used > user_used, (chat_used, user_used)
