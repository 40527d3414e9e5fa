"""The output scheduler end to end: the real bot against the Telegram fake's strictest limit model.

Many chats answering at once cost no 429 at all; a Telegram stricter than the bot's defaults (drafts at
1 per second) costs at most one 429 per chat before the bot has learnt its rate.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from tests.e2e.harness import Stack, final_texts

BOT = "@test_assistant_bot"


def finished_responses(stack: Stack) -> int:
    return sum(1 for r in stack.yandex.responses(limit=500) if r["status"] in ("completed", "failed"))


async def private_chats(stack: Stack, count: int) -> list[tuple[int, dict[str, Any]]]:
    chats = []
    for index in range(count):
        user = await stack.telegram.create_user(f"User{index}", language_code="en")
        chats.append((int((await stack.telegram.create_private_chat(user))["id"]), user))
    return chats


async def test_twenty_private_chats_and_three_groups_answering_at_once_cost_no_429(stack: Stack) -> None:
    async with stack.bot():
        privates = await private_chats(stack, 20)
        groups = []
        for index in range(3):
            asker = await stack.telegram.create_user(f"Asker{index}", language_code="en")
            other = await stack.telegram.create_user(f"Other{index}", language_code="en")
            chat = await stack.telegram.create_group(f"Team {index}", supergroup=True, members=[asker, other])
            groups.append((int(chat["id"]), asker))
        question = "emu:long=500 emu:slow=15 tell me about rivers"
        await asyncio.gather(
            *(stack.telegram.send_user_message(chat_id, user, question) for chat_id, user in privates),
            *(
                stack.telegram.send_user_message(chat_id, user, f"{BOT} {question}")
                for chat_id, user in groups
            ),
        )
        chat_ids = [chat_id for chat_id, _ in privates + groups]
        await stack.telegram.wait_for(lambda: finished_responses(stack) >= 23, timeout=90)

        def delivered() -> bool:
            return all(any(len(text) > 300 for text in final_texts(stack.telegram, c)) for c in chat_ids)

        await stack.telegram.wait_for(delivered, timeout=60)
        streamed = sum(len(stack.telegram.drafts(chat_id)) for chat_id, _ in privates)
    assert stack.telegram.violations() == []
    assert stack.telegram.rate_stats()["peak_per_window"] <= 30
    assert streamed > 20  # the answers were streamed, not only delivered at the end


async def test_a_stricter_draft_limit_costs_at_most_one_429_per_chat(stack: Stack) -> None:
    stack.telegram.config.draft_rate_per_s = 1.0  # half the bot's default of 2 per second
    async with stack.bot():
        chats = await private_chats(stack, 4)
        question = "emu:long=900 emu:slow=25 tell me about mountains"
        await asyncio.gather(*(stack.telegram.send_user_message(c, user, question) for c, user in chats))
        await stack.telegram.wait_for(lambda: finished_responses(stack) >= 4, timeout=90)

        def delivered() -> bool:
            return all(any(len(text) > 500 for text in final_texts(stack.telegram, c)) for c, _ in chats)

        await stack.telegram.wait_for(delivered, timeout=60)
    per_chat = Counter(v["chat_id"] for v in stack.telegram.violations())
    assert all(count <= 1 for count in per_chat.values()), per_chat
    assert per_chat, "the fake's stricter limit should have been hit once before the bot adapted"
    assert {v["kind"] for v in stack.telegram.violations()} == {"draft"}
    # After its 429 a chat kept streaming, at the learnt rate.
    for chat_id, _ in chats:
        assert len(stack.telegram.drafts(chat_id)) >= 4
